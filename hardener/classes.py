"""Class names and class selections (`--protect 12`, `--classes 0-9,George_W_Bush`). Torch-free."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from hardener.errors import InputError
from hardener.files import require_file


def read_names_file(path: str | Path) -> list[str]:
    """The names in a UTF-8 text file, one per line, trailing blank lines dropped."""
    path = require_file(path, "class names file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError("the class names file is not UTF-8 text", where=str(path), fix="save it as UTF-8") from None
    names = [line.strip() for line in lines]
    while names and not names[-1]:
        names.pop()
    return names


def read_class_names_any(path: str | Path) -> list[str]:
    """A names file without a fixed count (used to pick identities by name)."""
    names = [n for n in read_names_file(path) if n]
    if not names:
        raise InputError("the class names file is empty", where=str(path), fix="one identity name per line")
    return names


def read_class_names(path: str | Path, num_classes: int) -> list[str]:
    """One name per line, in label order; the count must equal the model's class count."""
    names = read_names_file(path)
    if len(names) != num_classes:
        raise InputError(f"{len(names)} class names for a model with {num_classes} classes", where=str(path),
                         fix="write one name per line, in label order, one line per class")
    if any(not n for n in names):
        raise InputError(f"blank class name on line {names.index('') + 1}", where=str(path), fix="name every class")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"duplicate class names: {', '.join(duplicates[:3])}", where=str(path), fix="make names unique")
    return names


def parse_classes(items: str | Sequence[str], num_classes: int, names: Sequence[str] | None = None,
                  option: str = "--classes") -> list[int]:
    """Indices from '0-9,12', names, or 'all'; order kept, duplicates dropped, every index checked."""
    parts = [p.strip() for item in ([items] if isinstance(items, str) else items) for p in item.split(",")]
    lookup = {n: i for i, n in enumerate(names or [])}
    chosen: list[int] = []
    for part in filter(None, parts):
        if part.lower() == "all":
            chosen.extend(range(num_classes))
        elif part in lookup:
            chosen.append(lookup[part])
        elif part.isdigit():
            chosen.append(int(part))
        elif "-" in part and all(x.strip().isdigit() for x in part.split("-", 1)):
            lo, hi = (int(x) for x in part.split("-", 1))
            if lo > hi:
                raise InputError(f"{option} range {part!r} runs backwards", fix=f"write {hi}-{lo}")
            chosen.extend(range(lo, hi + 1))
        else:
            hint = "use indices" + (" or class names from the bundle" if names else " (the model has no class names)")
            raise InputError(f"{option} {part!r} is not a class index, range or known name", fix=hint)
    if not chosen:
        raise InputError(f"{option} selects no class", fix="give indices like 0-9,12 or 'all'")
    bad = [c for c in chosen if not 0 <= c < num_classes]
    if bad:
        raise InputError(f"{option} {bad[0]} is out of range: the model has {num_classes} classes",
                         fix=f"use 0..{num_classes - 1}")
    return list(dict.fromkeys(chosen))


def label(index: int, names: Sequence[str] | None) -> str:
    """'12 (George_W_Bush)' where a name is known, else '12'."""
    return f"{index} ({names[index]})" if names else str(index)
