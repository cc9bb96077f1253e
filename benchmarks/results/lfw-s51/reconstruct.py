"""reconstruct.py PROTECT_OUT|target OUT.pt: session 51. R42's five attacks as lfw-s42/judge.py runs them (attacker's
GAN, standard budget, 15 restarts, attack seed 0; JUDGE_* as there), on one hardened model or on the undefended target,
keeping every reconstruction. Per preset OUT.pt holds the images (half precision), their classes, the evaluation
model's margin (the class's logit over the highest other; > 0 is a top-1 hit) and top class, the public classifier's top
class and probability, and the original target's margin. The evaluation model is read as the judge reads it; nothing
here reaches protect. Prints each preset's hits and their margins.
    python benchmarks/results/lfw-s51/reconstruct.py .cache/s45/DX3/out .cache/s51/look-DX3.pt   # repository root
"""
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lfw-s42"))
from judge import B, FIVE, judge_suite  # noqa: E402

from hardener.audit.metrics import class_margins  # noqa: E402
from hardener.checkpoint import CacheFolder  # noqa: E402
from hardener.evaluate import logits  # noqa: E402
from hardener.jobs.suite import hardened_files  # noqa: E402
from hardener.loading import load_model  # noqa: E402


def reconstruct(model, baseline, preset: str, surrogates: Path) -> dict:
    """One preset's reconstructions of the five protected classes, with who each model sees in them."""
    suite = judge_suite(preset, model, baseline, None, int(os.environ.get("JUDGE_RESTARTS", 15)),
                        int(os.environ.get("JUDGE_SEED", 0)))
    attack, gan = suite.attacks[0], suite.gan
    seed = suite.seed_for(attack)
    steps, restarts = suite.budget.scale(attack, suite.steps, suite.restarts)
    prepared = attack.prepare(model.model, gan.generator, gan.latent_dim, caches=CacheFolder(surrogates),
                              budget_fraction=suite.budget.steps_fraction, seed=seed, device="cpu",
                              public_classifier=gan.classifier)
    result = attack.run(gan.generator, gan.critic, prepared, suite.protect, latent_dim=gan.latent_dim, seed=seed,
                        steps=steps, restarts=restarts, device="cpu", public_classifier=gan.classifier)
    x, t = result.images.detach().cpu(), torch.as_tensor(result.targets).long().cpu()
    judged = logits(suite.evaluator.model, x, "cpu")
    margins = class_margins(judged, t)
    public = logits(gan.classifier, x, "cpu").softmax(1)
    return {"images": x.half(), "targets": t, "eval_margin": margins, "eval_top": judged.argmax(1),
            "hit": margins > 0, "public_top": public.argmax(1), "public_p": public.max(1).values,
            "orig_margin": class_margins(logits(baseline.model, x, "cpu"), t)}


if __name__ == "__main__":
    source, out = sys.argv[1], Path(sys.argv[2])
    baseline = load_model(B / "target" / "model.safetensors")
    model = baseline if source == "target" else load_model(hardened_files(Path(source))[0])
    rows = {}
    for preset in FIVE:
        rows[preset] = reconstruct(model, baseline, preset, out.parent / (out.stem + "-surrogates"))
        torch.save(rows, out)
        hits = rows[preset]["hit"]
        print(time.strftime("%T"), preset, "recovered", int(hits.sum()), "of", len(hits), "at margins",
              [round(float(v), 2) for v in rows[preset]["eval_margin"][hits]], flush=True)
