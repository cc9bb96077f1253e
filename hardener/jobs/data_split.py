"""`hardener data split`: write a reproducible split as npz subsets plus the indices that made them."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hardener.data.datasets import load_dataset, require_identities, subset
from hardener.data.splits import rows_of, save_npz, split_by_identity, split_by_image
from hardener.errors import InputError
from hardener.files import prepare_out_dir, write_json


def write_split(source: str, out: Path, *, by: str, scheme: str = "parity", test_fraction: float = 0.2,
                private_fraction: float = 0.5, seed: int = 0, skip_bad_images: bool = False) -> dict:
    """Split by `identity` (private.npz / public.npz, labels renumbered, `source_labels` kept) or by
    `image` (train.npz / test.npz, labels unchanged); `split.json` records indices and options."""
    data = load_dataset(source, skip_bad_images=skip_bad_images)
    require_identities(data)
    out = prepare_out_dir(out, inputs=(source,) if Path(source).exists() else (),
                          outputs=(*(f"{part}.npz" for part in ("train", "test", "private", "public")), "split.json"))
    if by == "identity":
        private, public = split_by_identity(data.labels, scheme, private_fraction, seed)
        parts = {"private": rows_of(data.labels, private), "public": rows_of(data.labels, public)}
        relabel = True
    elif by == "image":
        train, test = split_by_image(data.labels, test_fraction, seed)
        parts, relabel = {"train": train, "test": test}, False
    else:
        raise InputError(f"unknown --by {by!r}", fix="use --by identity or --by image")
    files = {}
    for name, rows in parts.items():
        part = subset(data, rows, relabel=relabel, note=name)
        files[name] = str(save_npz(part, out / f"{name}.npz", source_labels=data.labels[rows], source_rows=rows))
    report = {"command": "data split", "source": data.source, "by": by, "scheme": scheme if by == "identity" else None,
              "test_fraction": test_fraction if by == "image" else None, "seed": seed, "files": files,
              "counts": {name: {"images": int(len(rows)), "identities": int(len(np.unique(data.labels[rows])))}
                         for name, rows in parts.items()},
              "rows": {name: rows.tolist() for name, rows in parts.items()}, "skipped_bad_images": data.skipped}
    write_json(out / "split.json", report)
    return report
