"""Run from the checkout's root after benchmarks/train_models.py: `python judges.py OUT GAN_STAGE SEED`. Inverts the
protected classes of OUT/hardened.safetensors with plg-margin at 120 steps x 15 restarts (verify's standard) through
the GAN of .cache/benchmarks/GAN_STAGE, then per class counts the reconstructions the public classifier names one of
the class's decoys (OUT/report.json), those the ORIGINAL target (the defender's model before protect) names the
person, and those the evaluation model (the attacker's judge; analysis only) names the person."""
import json
import sys

import torch

from hardener.attacks.presets import get_attack
from hardener.device import evaluating
from hardener.gan.bundle import load_gan
from hardener.jobs.suite import report_decoys
from hardener.loading import load_model

B = ".cache/benchmarks"
PROTECT = [6, 18, 27, 31, 67]
out, stage, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
hardened = load_model(f"{out}/hardened.safetensors").model
original = load_model(f"{B}/target/model.safetensors").model
evaluation = load_model(f"{B}/eval/model.safetensors").model
decoys = report_decoys(json.loads(open(f"{out}/report.json").read()))
gan = load_gan(f"{B}/{stage}/gan.safetensors")
result = get_attack("plg-margin").run(gan.generator, gan.critic, hardened, PROTECT, latent_dim=gan.latent_dim,
                                      seed=seed, steps=120, restarts=15, public_classifier=gan.classifier)
with torch.no_grad(), evaluating(original, "cpu"), evaluating(evaluation, "cpu"), evaluating(gan.classifier, "cpu"):
    x, t = result.images, result.targets
    public_names, original_names, eval_names = (m(x).argmax(1) for m in (gan.classifier, original, evaluation))
for c in PROTECT:
    rows = t == c
    on_decoy = torch.isin(public_names[rows], torch.tensor(decoys[c]))
    o, e = original_names[rows] == c, eval_names[rows] == c
    print(f"{stage} seed {seed} class {c}: on decoy {int(on_decoy.sum())}/15, original names person {int(o.sum())}, "
          f"evaluation names person {int(e.sum())}, both {int((o & e).sum())}, eval-only {int((e & ~o).sum())}")
