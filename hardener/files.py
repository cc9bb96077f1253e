"""File hygiene shared by every command: input checks, hashes, atomic outputs, never clobber an input."""
from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from hardener.errors import InputError


def require_file(path: str | os.PathLike, what: str = "model file") -> Path:
    """The path as a Path, or one clear error saying why it cannot be read."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} not found", where=str(p), fix="check the path")
    if p.is_dir():
        raise InputError(f"expected a {what}, got a folder", where=str(p), fix="name the file inside it")
    if p.stat().st_size == 0:
        raise InputError(f"the {what} is empty (0 bytes)", where=str(p), fix="re-save or re-download it")
    return p


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def prepare_out_dir(out: str | os.PathLike, inputs: tuple[str | os.PathLike, ...] = ()) -> Path:
    """Create the output folder; refuse one that is an input file or holds an input we would replace."""
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("--out must be a folder, but a file has that name", where=str(out_dir), fix="choose another --out")
    resolved = {Path(i).resolve() for i in inputs}
    if out_dir.resolve() in resolved:
        raise InputError("--out is one of the inputs", where=str(out_dir), fix="choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def refuse_input_overwrite(target: Path, inputs: tuple[str | os.PathLike, ...]) -> None:
    if target.exists() and target.resolve() in {Path(i).resolve() for i in inputs}:
        raise InputError("this output would overwrite an input file", where=str(target), fix="choose another --out")


@contextmanager
def atomic_output(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it into place only if the block succeeds."""
    final = Path(final)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # some writers create 0600 files; outputs get normal permissions
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, data: Any) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    return Path(path)
