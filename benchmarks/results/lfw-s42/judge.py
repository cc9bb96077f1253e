"""Session 42: attack ONE hardened LFW model with verify's suite (attacker's GAN, evaluation model,
held-out split, 5 protected classes, budget standard, 15 restarts, seed 0; each preset at the seed verify gives
it) without attacking the baseline; write the rows verify would write for 'hardened' to OUT.json after each preset.
    python benchmarks/results/lfw-s42/judge.py PROTECT_OUT OUT.json [presets...]   # from the repository root
JUDGE_STEPS / JUDGE_RESTARTS override the budget for a smoke run; JUDGE_GAN another GAN bundle (session 44: protect's
own, .cache/benchmarks/gan/gan.safetensors, to see what the defender could see); JUDGE_EVAL another evaluation model
(session 49: the user's own target, a judge the defender owns); JUDGE_SEED verify's --seed (default 0; another
value draws other attack seeds for every preset)."""
import json
import os
import sys
import time
from pathlib import Path

from hardener.jobs.suite import (attack_models, hardened_files, load_suite, natural_accuracy, natural_hits,
                                 report_decoys)
from hardener.loading import load_model

B = Path(".cache/benchmarks")
FIVE = ("plg-margin", "adaptive-trapdoor", "plg-gan", "lomma-logit", "plg-gan-adaptive")  # leaked most, sessions 24-33


def judge_suite(preset: str, checked, baseline, steps: int | None, restarts: int, seed: int):
    """verify's suite for one preset as the judge runs it (lfw-s51/reconstruct.py builds it the same way)."""
    return load_suite(presets=(preset,), budget="standard", steps=steps, restarts=restarts, seed=seed,
                      gan=Path(os.environ.get("JUDGE_GAN", B / "gan-attacker" / "gan.safetensors")), critic=None,
                      eval_model=Path(os.environ.get("JUDGE_EVAL", B / "eval" / "model.safetensors")),
                      data=str(B / "splits" / "private" / "test.npz"),
                      target=checked, spec_model=baseline, protect=["6", "18", "27", "31", "67"], device="cpu")


def judge(model, checked, decoys: dict[int, list[int]], out: Path, presets: tuple[str, ...], header: dict) -> dict:
    """The presets on `model` (any module with the FaceModel interface; `checked`: the LoadedModel load_suite checks
    the GAN and spec against), rows written to OUT after each preset and printed; `header` starts the JSON.
    lfw-s50/judge_ensemble.py calls it on the mean logits of several models."""
    baseline = load_model(B / "target" / "model.safetensors")
    steps = int(os.environ["JUDGE_STEPS"]) if "JUDGE_STEPS" in os.environ else None
    restarts = int(os.environ.get("JUDGE_RESTARTS", 15))
    seed = int(os.environ.get("JUDGE_SEED", 0))
    result = {**header, "rows": []}
    for preset in presets:
        suite = judge_suite(preset, checked, baseline, steps, restarts, seed)
        if "accuracy" not in result:
            result["accuracy"] = natural_accuracy(natural_hits(suite, {"h": model})["h"], suite.in_protected)
            print("acc", result["accuracy"], flush=True)
        rows = attack_models(suite, {"hardened": model}, out.parent / (out.stem + "-surrogates"),
                             decoys={"hardened": decoys})
        result["rows"] += rows
        out.write_text(json.dumps(result, indent=1))
        for r in rows:
            h = r["hardened"]
            print(time.strftime("%T"), f"{r['preset']:18s} seed {r['seed']} top1 {h['top1']:.3f} "
                  f"top5 {h['top5']:.3f} rows {h['rows']} {h['top1_by_class']} "
                  f"{h['seconds_with_preparation']:.0f} s", flush=True)
    return result


if __name__ == "__main__":
    model_path, out = Path(sys.argv[1]), Path(sys.argv[2])
    bundle, _, protect_report = hardened_files(model_path)
    hardened = load_model(bundle)
    judge(hardened.model, hardened, report_decoys(protect_report), out, tuple(sys.argv[3:]) or FIVE,
          {"model": str(model_path)})
