"""second_judge.py SECOND.safetensors OUT.pt...: session 51. Does a second recogniser of the defender's own (trained on
the private training photos, another depth and seed than the target) see the person where the evaluation model does?
Per file of reconstruct.py: per preset and class the median margin of both, the margins of the evaluation model's hits
by both and by the original target, over all rows how many each names the person and how many both do, and each
one's hits per attack and per person.
    python benchmarks/results/lfw-s51/second_judge.py .cache/s51/opinion/model.safetensors .cache/s51/look-DX3.pt
"""
import sys

import torch

from hardener.audit.metrics import class_margins
from hardener.evaluate import logits
from hardener.loading import load_model


def medians(margins: torch.Tensor, targets: torch.Tensor) -> dict[int, float]:
    return {int(c): round(float(margins[targets == c].median()), 1) for c in targets.unique()}


def main(second_path: str, files: list[str]) -> None:
    second = load_model(second_path).model
    for path in files:
        named = {"evaluation model": 0, "second": 0, "both": 0, "original target": 0}
        per_attack, per_person = {"evaluation model": [], "second": []}, {"evaluation model": {}, "second": {}}
        print(path)
        for preset, r in torch.load(path).items():
            t, judged, hits = r["targets"], r["eval_margin"], r["hit"]
            with torch.no_grad():
                own = class_margins(logits(second, r["images"].float(), "cpu"), t)
            print(f"  {preset:18s} median margin per class: second {medians(own, t)}, evaluation {medians(judged, t)}")
            if hits.any():
                print("    the evaluation model's hits: margins by it", [round(float(v), 1) for v in judged[hits]],
                      "by the second", [round(float(v), 1) for v in own[hits]],
                      "by the original target", [round(float(v), 1) for v in r["orig_margin"][hits]])
            named["evaluation model"] += int(hits.sum())
            named["second"] += int((own > 0).sum())
            named["both"] += int((hits & (own > 0)).sum())
            named["original target"] += int((r["orig_margin"] > 0).sum())
            for judge, hit in (("evaluation model", hits), ("second", own > 0)):
                per_attack[judge].append(int(hit.sum()))
                for c in t[hit].tolist():
                    per_person[judge][c] = per_person[judge].get(c, 0) + 1
        print("  rows named the person:", named)
        for judge in per_attack:
            print(f"  {judge}'s hits per attack {per_attack[judge]}, per person {dict(sorted(per_person[judge].items()))}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
