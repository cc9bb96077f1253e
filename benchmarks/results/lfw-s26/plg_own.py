"""plg_own.py OUT GAN_STAGE SEED: plg-gan at the standard budget (generator 100 steps, 120 latent steps x 15
restarts) on a hardened model through GAN_STAGE's GAN; per class how many reconstructions the evaluation model
(analysis only), the original target and the hardened model name the person, and the public classifier the decoy."""
import json, sys, time
import torch
from hardener.attacks.presets import get_attack
from hardener.gan.bundle import load_gan
from hardener.jobs.suite import report_decoys
from hardener.loading import load_model
torch.set_num_threads(1)
B = ".cache/benchmarks"
PROTECT = [6, 18, 27, 31, 67]
out, stage, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
hardened = load_model(f"{out}/hardened.safetensors").model.eval()
original = load_model(f"{B}/target/model.safetensors").model.eval()
tldmi = load_model(f"{out}/tl-dmi/hardened.safetensors").model.eval()  # protect's `model` on the stack
evaluation = load_model(f"{B}/eval/model.safetensors").model.eval()
public = load_model(f"{B}/public/model.safetensors").model.eval()
decoys = report_decoys(json.loads(open(f"{out}/report.json").read()))
gan = load_gan(f"{B}/{stage}/gan.safetensors")
attack = get_attack("plg-gan")
t0 = time.time()
prepared = attack.prepare(hardened, gan.generator, gan.latent_dim, budget_fraction=0.2, seed=seed)
result = attack.run(gan.generator, gan.critic, prepared, PROTECT, latent_dim=gan.latent_dim, seed=seed, steps=120,
                    restarts=15)
print(f"# {out} {stage} seed {seed}: {time.time() - t0:.0f} s")
with torch.no_grad():
    x, t = result.images, result.targets
    zp, zo, ze, zh, zt = (m(x) for m in (public, original, evaluation, hardened, tldmi))
torch.save({"images": x, "targets": t}, f"{out}/../plg-own-{stage}-{seed}.pt")
for c in PROTECT:
    r = t == c
    print(f"class {c}: eval {int((ze[r].argmax(1) == c).sum())}/15 original {int((zo[r].argmax(1) == c).sum())} "
          f"tl-dmi {int((zt[r].argmax(1) == c).sum())} hardened {int((zh[r].argmax(1) == c).sum())} public-decoy {int(torch.isin(zp[r].argmax(1), torch.tensor(decoys[c])).sum())}")
