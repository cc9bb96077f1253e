"""judge_ensemble.py OUT.json PROTECT_OUT PROTECT_OUT...: session 50's rule R50b. The five attacks of rule R42, as
lfw-s42/judge.py runs them (attacker's GAN, evaluation model, held-out split, standard budget, 15 restarts, seed 0
or JUDGE_SEED; JUDGE_STEPS and JUDGE_RESTARTS as judge.py's), on the mean of the logits of several hardened models:
what a service shipping them together would expose. Decoy hit rates count every member's decoys. One thread; from
the repository root."""
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

from hardener.jobs.suite import (attack_models, hardened_files, load_suite, natural_accuracy, natural_hits,
                                 report_decoys)
from hardener.loading import load_model

B = Path(".cache/benchmarks")
FIVE = ("plg-margin", "adaptive-trapdoor", "plg-gan", "lomma-logit", "plg-gan-adaptive")


class LogitMean(nn.Module):
    """The members' logits averaged; spec and class count are the first member's (all share them)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.spec, self.num_classes = members[0].spec, members[0].num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)


out, dirs = Path(sys.argv[1]), [Path(d) for d in sys.argv[2:]]
loaded = [(load_model(hardened_files(d)[0]), hardened_files(d)[2]) for d in dirs]
ensemble = LogitMean([m.model.eval() for m, _ in loaded])
decoys: dict[int, list[int]] = {}
for _, report in loaded:
    for c, ds in report_decoys(report).items():
        decoys[c] = sorted(set(decoys.get(c, [])) | set(ds))
baseline = load_model(B / "target" / "model.safetensors")
seed = int(os.environ.get("JUDGE_SEED", 0))
steps = int(os.environ["JUDGE_STEPS"]) if "JUDGE_STEPS" in os.environ else None  # a smoke run's, as judge.py's
restarts = int(os.environ.get("JUDGE_RESTARTS", 15))
result = {"models": [str(d) for d in dirs], "rows": []}
for preset in FIVE:
    suite = load_suite(presets=(preset,), budget="standard", steps=steps, restarts=restarts, seed=seed,
                       gan=B / "gan-attacker" / "gan.safetensors", critic=None,
                       eval_model=B / "eval" / "model.safetensors",
                       data=str(B / "splits" / "private" / "test.npz"), target=loaded[0][0], spec_model=baseline,
                       protect=["6", "18", "27", "31", "67"], device="cpu")
    if "accuracy" not in result:
        result["accuracy"] = natural_accuracy(natural_hits(suite, {"h": ensemble})["h"], suite.in_protected)
        print("acc", result["accuracy"], flush=True)
    rows = attack_models(suite, {"hardened": ensemble}, out.parent / (out.stem + "-surrogates"),
                         decoys={"hardened": decoys})
    result["rows"] += rows
    out.write_text(json.dumps(result, indent=1))
    for r in rows:
        h = r["hardened"]
        print(time.strftime("%T"), f"{r['preset']:18s} seed {r['seed']} top1 {h['top1']:.3f} top5 {h['top5']:.3f} "
              f"rows {h['rows']} {h['top1_by_class']} {h['seconds_with_preparation']:.0f} s", flush=True)
