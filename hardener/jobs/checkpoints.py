"""The files long jobs keep in --out/checkpoints, named here and nowhere else: a job hands the loop below it
a `Checkpoint` (hardener.checkpoint), and the loop only loads and saves through it. The names are those
every earlier version wrote, so an --out folder of an interrupted run still resumes."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from hardener.checkpoint import Checkpoint, require_checkpoint
from hardener.errors import InputError

if TYPE_CHECKING:
    from hardener.audit.lira import ShadowOptions

FOLDER = "checkpoints"
CLASSIFIER_CHECKPOINT = "classifier_checkpoint.pt"  # hardener.train: train classifier, every method that trains
GAN_CHECKPOINT = "gan_checkpoint.pt"
PROTECT_CHECKPOINT = "protect_checkpoint.pt"  # the decoy defense's rounds
VAE_CHECKPOINT = "vae_checkpoint.pt"
SHADOWS = "lira_shadow_*.pt"


def checkpoint_file(out: str | Path, name: str) -> Path:
    return Path(out) / FOLDER / name


def checkpoint(out: str | Path, name: str, resume: bool) -> Checkpoint:
    """The checkpoint `name` of the job writing `out`; `resume` continues from it and needs its file: call
    this before the job makes --out, so `--resume` with a typo in --out is refused and leaves no folder."""
    path = checkpoint_file(out, name)
    if resume:
        require_checkpoint(path)
    return Checkpoint(path, resume)


def shadow_file(out: str | Path, index: int) -> Path:
    return checkpoint_file(out, f"lira_shadow_{index + 1:04d}.pt")


def shadow_checkpoints(out: str | Path, resume: bool) -> Callable[[int], Checkpoint]:
    """LiRA's shadows, one file each: with `resume`, a shadow whose file an interrupted run left is kept and
    the others are trained."""
    def shadow(index: int) -> Checkpoint:
        path = shadow_file(out, index)
        return Checkpoint(path, resume=resume and path.exists())

    return shadow


def check_shadow_resume(out: str | Path, shadows: int, options: ShadowOptions | None = None) -> None:
    """`--resume` needs shadows and at least one shadow's checkpoint: checked before --out is made, so a
    typo in --out leaves no folder behind. `options`: the option names errors point at (audit-mia's by default)."""
    from hardener.audit.lira import AUDIT_MIA_OPTIONS

    options = options or AUDIT_MIA_OPTIONS
    if not shadows:
        raise InputError("--resume only applies to LiRA's shadow models", where="--resume",
                         fix=f"add {options.shadows} K or drop --resume")
    if not any((Path(out) / FOLDER).glob(SHADOWS)):
        require_checkpoint(shadow_file(out, 0))
