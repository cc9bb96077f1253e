"""File hygiene shared by every command: input checks, hashes, atomic outputs, never clobber an input."""
from __future__ import annotations

import glob
import hashlib
import json
import os
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterator

from hardener import ranks
from hardener.errors import InputError

# The inputs the running command has read. Every output goes through `atomic_output`, which refuses a
# path that is one of them or lies inside an input folder: one guard for every job, however it names its
# outputs. None outside `guarding_inputs()` (a library caller who manages its own paths).
_inputs: ContextVar[set[Path] | None] = ContextVar("hardener_inputs", default=None)


# The temporaries of the `atomic_output` blocks now open in this process.
_live_temporaries: set[Path] = set()


@contextmanager
def guarding_inputs() -> Iterator[None]:
    """Within the block, no output may replace a file that was read as an input (the CLI wraps each command)."""
    token = _inputs.set(set())
    try:
        yield
    finally:
        _inputs.reset(token)


def register_input(path: str | os.PathLike) -> None:
    """Record a path (file or folder) as an input of the running command."""
    seen = _inputs.get()
    if seen is not None and str(path):
        seen.add(Path(path).resolve())


def refuse_input_target(final: str | os.PathLike) -> None:
    """Refuse an output path that is an input, or inside an input folder (an ImageFolder dataset)."""
    seen = _inputs.get()
    if not seen:
        return
    target = Path(final).resolve()
    for source in seen:
        if target == source or (source.is_dir() and source in target.parents):
            raise InputError("this output would overwrite or land inside an input", where=str(final),
                             fix="choose an --out that is not one of the inputs or inside an input folder")


def require_file(path: str | os.PathLike, what: str = "model file", *, is_input: bool = True) -> Path:
    """The path as a Path, or one clear error saying why it cannot be read. `is_input=False` for a job's own
    state (a checkpoint it will write again), which the output guard must not protect."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} not found", where=str(p), fix="check the path")
    if p.is_dir():
        raise InputError(f"expected a {what}, got a folder", where=str(p), fix="name the file inside it")
    if p.stat().st_size == 0:
        raise InputError(f"the {what} is empty (0 bytes)", where=str(p), fix="re-save or re-download it")
    if is_input:
        register_input(p)
    return p


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def prepare_out_dir(out: str | os.PathLike, inputs: tuple[str | os.PathLike, ...] = (),
                    outputs: tuple[str, ...] = ()) -> Path:
    """Create the output folder; refuse one that is an input file, or whose planned `outputs` (names inside
    it) would replace an input: checked before any work starts, not when the first result is written."""
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("--out must be a folder, but a file has that name", where=str(out_dir), fix="choose another --out")
    resolved = {Path(i).resolve() for i in inputs}
    if out_dir.resolve() in resolved:
        raise InputError("--out is one of the inputs", where=str(out_dir), fix="choose another --out")
    for source in inputs:
        register_input(source)
    for name in outputs:
        refuse_input_target(out_dir / name)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder ({exc.strerror or exc})", where=str(out_dir),
                         fix="choose an --out in a writable folder (not under a file or a system path)") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise InputError("the output folder is not writable", where=str(out_dir), fix="choose another --out")
    return out_dir


def refuse_input_overwrite(target: Path, inputs: tuple[str | os.PathLike, ...]) -> None:
    if target.exists() and target.resolve() in {Path(i).resolve() for i in inputs}:
        raise InputError("this output would overwrite an input file", where=str(target), fix="choose another --out")


def remove_stale_temporaries(final: Path) -> None:
    """Delete temporaries of `final` left by a process that no longer runs (killed with -9, power loss)."""
    for stale in final.parent.glob(f".{glob.escape(final.name)}.tmp-*"):
        pid = stale.name.rpartition("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid)):
            stale.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


@contextmanager
def atomic_output(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it into place only if the block succeeds."""
    final = Path(final)
    refuse_input_target(final)
    remove_stale_temporaries(final)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    _live_temporaries.add(tmp)
    try:
        yield tmp
        if not ranks.is_main():  # under torchrun every rank computes the same result; rank 0 writes it
            return
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # some writers create 0600 files; outputs get normal permissions
        os.replace(tmp, final)
    finally:
        _live_temporaries.discard(tmp)
        if tmp.exists():
            tmp.unlink()


def remove_live_temporaries() -> None:
    """Unlink every temporary an open `atomic_output` holds: for a process about to `os._exit` (a signal
    that cannot unwind), whose `finally` blocks will never run."""
    for tmp in list(_live_temporaries):
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, data: Any) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    return Path(path)
