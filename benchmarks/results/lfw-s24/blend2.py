"""blend2.py OUT SEED: class margins of the hardened model on person photos, protect's GAN decoy samples (re-made
as protect makes them) and pixel blends of the two; also the original target's."""
import json, sys
import numpy as np, torch
from hardener.data import to_model_input
from hardener.loading import load_model
from hardener.gan.bundle import load_gan
from hardener.defenses.decoy import DecoyConfig, _inverter
from hardener.jobs.suite import report_decoys
torch.set_num_threads(1)
B = ".cache/benchmarks"
PROTECT = [6, 18, 27, 31, 67]
out, seed = sys.argv[1], int(sys.argv[2])
pri = np.load(f"{B}/splits/private/train.npz")
def margin(m, x, t):
    with torch.no_grad():
        z = m.eval()(x); zt = z[:, t].clone(); z[:, t] = -1e9
        return (zt - z.max(1).values)
decoys = report_decoys(json.loads(open(f"{out}/report.json").read()))
gan = load_gan(f"{B}/gan/gan.safetensors")
public = load_model(f"{B}/public/model.safetensors").model
invert = _inverter(gan.generator, gan.critic, gan.latent_dim, DecoyConfig(seed=seed), "cpu", lambda e: None)
inv = invert(public, [decoys[t][0] for t in PROTECT], seed=seed, task="decoys", family=False)
models = {"original": load_model(f"{B}/target/model.safetensors").model,
          "hardened": load_model(f"{out}/hardened.safetensors").model}
for name, m in models.items():
    print(name)
    for t in PROTECT:
        xp = to_model_input(pri["images"][pri["labels"] == t][:64], 64)
        xd = inv.images[inv.targets == decoys[t][0]]
        xp8 = xp[torch.randperm(len(xp), generator=torch.Generator().manual_seed(0))[:len(xd)]]
        row = [margin(m, xp, t).median(), margin(m, xd, t).median()]
        row += [margin(m, lam * xd + (1 - lam) * xp8, t).median() for lam in (0.25, 0.5, 0.75)]
        blends = " ".join(f"{v:6.2f}" for v in row[2:])
        print(f"  class {t}: person {row[0]:6.2f} decoys {row[1]:6.2f} blends .25/.5/.75 {blends}")
