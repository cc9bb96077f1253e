"""pseudo_top.py OUT GAN_STAGE SEED: plg-gan's first stage alone on a hardened model: of 2048 seeded images of
GAN_STAGE's GAN, the 32 the hardened model gives each protected class the highest probability (as plg-gan and
the pseudo seeker pick them); per class how many of those the evaluation model (analysis only) and protect's
TL-DMI model name the person, how many the public classifier names one of the class's decoys, and the hardened
model's mean probability and margin for the class on them."""
import json, sys
import torch
from hardener.attacks.plg_gan import pseudo_labels
from hardener.defenses.decoy import class_margin
from hardener.gan.bundle import load_gan
from hardener.jobs.suite import report_decoys
from hardener.loading import load_model
torch.set_num_threads(1)
B = ".cache/benchmarks"
PROTECT = [6, 18, 27, 31, 67]
out, stage, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
hardened = load_model(f"{out}/hardened.safetensors").model.eval()
tldmi = load_model(f"{out}/tl-dmi/hardened.safetensors").model.eval()
evaluation = load_model(f"{B}/eval/model.safetensors").model.eval()
public = load_model(f"{B}/public/model.safetensors").model.eval()
decoys = report_decoys(json.loads(open(f"{out}/report.json").read()))
gan = load_gan(f"{B}/{stage}/gan.safetensors")
_, images, rows = pseudo_labels(hardened, gan.generator, gan.latent_dim, 2048, 32, seed, "cpu")
with torch.no_grad():
    print(f"# {out} {stage} pool seed {seed}: top 32 of 2048 per class by the hardened model's probability")
    for c in PROTECT:
        x, y = images[rows[c]], torch.full((32,), c)
        logits = hardened(x)
        named = {name: int((m(x).argmax(1) == c).sum()) for name, m in (("eval", evaluation), ("tl-dmi", tldmi))}
        on_decoy = int(torch.isin(public(x).argmax(1), torch.tensor(decoys[c])).sum())
        p = float(logits.softmax(1)[:, c].mean())
        m = float(class_margin(logits, y).mean())
        print(f"class {c}: eval {named['eval']}/32 tl-dmi {named['tl-dmi']}/32 public-decoy {on_decoy}/32 "
              f"p {p:.2f} margin {m:.2f}")
