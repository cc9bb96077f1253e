"""hybrid.py OUT GAN_STAGE SEED: can a GAN make images that the public classifier names a protected class's decoy AND
the original target names the person (the leak verify sees on LFW)? plg-margin (120 steps x 15 restarts) on the sum
of the two margins; per class: how many the public classifier names the decoy, the original names the person, the
evaluation model (analysis only) names the person, and the hardened model's margin on them vs on pure decoy samples."""
import json, sys
import torch
from torch import nn
from hardener.attacks.presets import get_attack
from hardener.gan.bundle import load_gan
from hardener.jobs.suite import report_decoys
from hardener.loading import load_model
torch.set_num_threads(1)
B = ".cache/benchmarks"
PROTECT = [6, 18, 27, 31, 67]
out, stage, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
hardened = load_model(f"{out}/hardened.safetensors").model
original = load_model(f"{B}/target/model.safetensors").model
evaluation = load_model(f"{B}/eval/model.safetensors").model
public = load_model(f"{B}/public/model.safetensors").model
decoys = report_decoys(json.loads(open(f"{out}/report.json").read()))
gan = load_gan(f"{B}/{stage}/gan.safetensors")

def margin(z, t):
    other = z.clone(); other[:, t] = -1e9
    return z[:, t] - other.max(1).values

class Hybrid(nn.Module):
    """Class c's logit: the public classifier's margin for c's decoy plus the original target's margin for c."""
    def __init__(self):
        super().__init__(); self.public, self.original = public, original
    def forward(self, x):
        zp, zo = self.public(x), self.original(x)
        cols = [torch.zeros(len(x))] * 100
        for c in PROTECT:
            cols[c] = margin(zp, decoys[c][0]) + margin(zo, c)
        return torch.stack(cols, 1)

hybrid = Hybrid().eval()
for p in hybrid.parameters(): p.requires_grad_(False)
result = get_attack("plg-margin").run(gan.generator, gan.critic, hybrid, PROTECT, latent_dim=gan.latent_dim,
                                      seed=seed, steps=120, restarts=15)
with torch.no_grad():
    x, t = result.images, result.targets
    zp, zo, ze, zh = (m.eval()(x) for m in (public, original, evaluation, hardened))
for c in PROTECT:
    r = t == c
    on_decoy = zp[r].argmax(1) == decoys[c][0]
    o, e = zo[r].argmax(1) == c, ze[r].argmax(1) == c
    print(f"{stage} class {c}: decoy {int(on_decoy.sum())}/15 original {int(o.sum())} eval {int(e.sum())} "
          f"both-decoy-and-eval {int((on_decoy & e).sum())}; hardened margin median {margin(zh[r], c).median():.2f} "
          f"max {margin(zh[r], c).max():.2f}, hardened names person {int((zh[r].argmax(1) == c).sum())}")
