"""judge_ensemble.py OUT.json PROTECT_OUT PROTECT_OUT...: session 50's rule R50b. The five attacks of rule R42, as
lfw-s42/judge.py runs them (attacker's GAN, evaluation model, held-out split, standard budget, 15 restarts, seed 0
or JUDGE_SEED; its other JUDGE_* variables too), on the mean of the logits of several hardened models: what a
service shipping them together would expose. Decoy hit rates count every member's decoys. One thread; from the
repository root."""
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lfw-s42"))
from judge import FIVE, judge  # noqa: E402

from hardener.jobs.suite import hardened_files, report_decoys  # noqa: E402
from hardener.loading import load_model  # noqa: E402


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
decoys: dict[int, list[int]] = {}
for _, report in loaded:
    for c, ds in report_decoys(report).items():
        decoys[c] = sorted(set(decoys.get(c, [])) | set(ds))
judge(LogitMean([m.model.eval() for m, _ in loaded]), loaded[0][0], decoys, out, FIVE,
      {"models": [str(d) for d in dirs]})
