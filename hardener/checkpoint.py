"""One checkpoint mechanism for every long job (train classifier, train gan, ...), with one promise: a run
resumed from its checkpoint ends bit-identical to an uninterrupted one (same thread count), because the
checkpoint holds everything the next step depends on: weights, optimizer and scheduler state, random
generators, and where the loop stood. A checkpoint also records the job's identity (its options and the
sha256 of its inputs); `--resume` with another identity is refused instead of mixing two runs, and
`--resume` where there is no checkpoint is refused instead of silently starting over.

Files hold only tensors, numbers, strings, lists and dicts, so they load with `weights_only=True`; a file
planted with pickled objects is refused like any untrusted model file.

Only jobs/ name files in --out: a job hands the loop below it a `Checkpoint` (the file and whether this run
continues from it), and an attack that builds something from its target a `CacheFolder` (where such things
are kept between runs); the loops and attacks only load and save through them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from hardener.errors import InputError, PickleRefusedError
from hardener.files import atomic_output, require_file

START_OVER = "delete it and start again without --resume"


def save_checkpoint(path: Path, *, kind: str, identity: Mapping[str, Any], state: Mapping[str, Any]) -> Path:
    """Write `state` atomically: a checkpoint is either the previous one or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        torch.save({"format": kind, "identity": dict(identity), **state}, tmp)
    return path


def require_checkpoint(path: Path) -> None:
    """`--resume` needs a checkpoint: checked before a job creates its --out, so a typo makes no folder."""
    if not path.exists():
        raise InputError("--resume, but there is no checkpoint to resume from", where=str(path),
                         fix="drop --resume to start a new run, or point --out to the folder of the interrupted run")


def load_checkpoint(path: Path, *, kind: str, identity: Mapping[str, Any]) -> dict:
    """The state saved by `save_checkpoint` for the same job, or one clear error (exit 2)."""
    from hardener.loading import torch_load_checked

    require_checkpoint(path)
    require_file(path, "checkpoint", is_input=False)
    try:
        state, _ = torch_load_checked(path, allow_pickle=False)
    except PickleRefusedError:
        raise InputError("the checkpoint holds pickled Python objects, which hardener never writes", where=str(path),
                         fix=f"this file was replaced; {START_OVER}") from None
    if not isinstance(state, dict) or state.get("format") != kind:
        raise InputError(f"not a {kind} checkpoint", where=str(path),
                         fix=f"point --out to the folder of the interrupted run, or {START_OVER}")
    saved = state.get("identity", {})
    changed = [_change(key, saved.get(key), value) for key, value in identity.items() if saved.get(key) != value]
    if changed:
        raise InputError(f"--resume with other options or inputs than the interrupted run ({'; '.join(changed[:4])})",
                         where=str(path), fix="resume with the same options and inputs, or use a new --out")
    return state


@dataclass(frozen=True)
class Checkpoint:
    """Where a long job keeps its state and whether this run continues from it. Jobs make it (they alone name
    files in --out); the loops below them only call `load` and `save`."""

    path: Path
    resume: bool = False

    def load(self, *, kind: str, identity: Mapping[str, Any]) -> dict | None:
        """None for a new run; when resuming, the saved state of the same job, or one clear error (exit 2)."""
        return load_checkpoint(self.path, kind=kind, identity=identity) if self.resume else None

    def save(self, *, kind: str, identity: Mapping[str, Any], state: Mapping[str, Any]) -> None:
        save_checkpoint(self.path, kind=kind, identity=identity, state=state)


@dataclass(frozen=True)
class StateCache:
    """One set of tensors an attack built from its target (LOMMA's surrogates, PLG-MI's generator), kept so a
    later run with the same key reuses it instead of building it again."""

    path: Path

    def load(self) -> dict[str, torch.Tensor] | None:
        """The tensors saved before, or None when nothing was saved under this key."""
        if not self.path.exists():
            return None
        from safetensors.torch import load_file

        return load_file(str(self.path))

    def save(self, tensors: Mapping[str, torch.Tensor]) -> None:
        """Write atomically (a cache is the previous file or the new one, never half of one), folder included."""
        from safetensors.torch import save_file

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(self.path) as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))


@dataclass(frozen=True)
class CacheFolder:
    """Where attacks keep what they build from a target between runs (verify's and attack's --out/surrogates).

    It exists so that attacks name only a key, never a path: the job that owns --out makes the folder, and
    `entry(key)` is the one file for that key (`key.safetensors`)."""

    folder: Path

    def entry(self, key: str) -> StateCache:
        return StateCache(Path(self.folder) / f"{key}.safetensors")


def restore(objects: Mapping[str, Any], state: Mapping[str, Any], path: Path) -> None:
    """Load each module, optimizer, scheduler or torch.Generator from its entry of `state`."""
    try:
        for name, obj in objects.items():
            if isinstance(obj, torch.Generator):
                obj.set_state(state[name])
            else:
                obj.load_state_dict(state[name])
    except Exception as exc:
        raise InputError(f"cannot resume from the checkpoint ({str(exc).splitlines()[0][:120]})", where=str(path),
                         fix=f"resume with the same options as the first run, or {START_OVER}") from exc


def states(objects: Mapping[str, Any]) -> dict[str, Any]:
    """The saveable state of each module, optimizer, scheduler or torch.Generator."""
    return {name: obj.get_state() if isinstance(obj, torch.Generator) else obj.state_dict()
            for name, obj in objects.items()}


def _change(key: str, before: Any, now: Any) -> str:
    if key.endswith("sha256"):
        return f"{key.removesuffix('_sha256')} changed"
    return f"{key} {before!r} -> {now!r}"
