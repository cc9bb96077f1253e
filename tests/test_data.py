"""Datasets and splits: loading npz and ImageFolder, bad inputs, deterministic disjoint splits."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli_helpers import assert_bad_input
from hardener.cli.app import app
from hardener.data import load_dataset, require_identities, to_model_input
from hardener.data.splits import split_by_identity, split_by_image
from hardener.errors import InputError

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def make_npz(path: Path, n: int = 40, ids: int = 4, size: int = 16, gray: bool = False, **overrides) -> Path:
    rng = np.random.default_rng(0)
    shape = (n, size, size) if gray else (n, size, size, 3)
    arrays = {"images": rng.integers(0, 256, shape, dtype=np.uint8), "labels": np.arange(n) % ids,
              "names": np.array([f"p{i}" for i in range(ids)])}
    arrays.update(overrides)
    np.savez(path, **arrays)
    return path


def make_folder(root: Path, ids: int = 3, per: int = 4, size: int = 20) -> Path:
    rng = np.random.default_rng(1)
    for i in range(ids):
        (root / f"person_{i}").mkdir(parents=True)
        for j in range(per):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / f"person_{i}" / f"{j}.png")
    return root


def test_split_by_image_is_deterministic_disjoint_and_complete() -> None:
    labels = np.repeat(np.arange(7), [1, 2, 5, 10, 3, 8, 20])
    train, test = split_by_image(labels, 0.2, seed=3)
    again_train, again_test = split_by_image(labels, 0.2, seed=3)
    assert np.array_equal(train, again_train) and np.array_equal(test, again_test)
    assert not set(train) & set(test)
    assert sorted(np.concatenate([train, test])) == list(range(len(labels)))
    for identity in range(1, 7):  # every identity with 2+ images keeps at least one on each side
        assert identity in labels[test] and identity in labels[train]
    other_train, _ = split_by_image(labels, 0.2, seed=4)
    assert not np.array_equal(train, other_train)


def test_split_by_identity_parity_and_random() -> None:
    labels = np.repeat(np.arange(10), 3)
    private, public = split_by_identity(labels, "parity")
    assert list(private) == [0, 2, 4, 6, 8] and list(public) == [1, 3, 5, 7, 9]
    p1, q1 = split_by_identity(labels, "random", 0.3, seed=5)
    p2, _ = split_by_identity(labels, "random", 0.3, seed=5)
    assert np.array_equal(p1, p2) and len(p1) == 3 and not set(p1) & set(q1)
    with pytest.raises(InputError):
        split_by_identity(np.zeros(5, dtype=int))


def test_npz_grayscale_becomes_rgb_and_resizes(tmp_path: Path) -> None:
    data = load_dataset(make_npz(tmp_path / "g.npz", gray=True))
    assert data.images.shape == (40, 16, 16, 3) and data.names == ["p0", "p1", "p2", "p3"]
    x = to_model_input(data.images[:2], 32)
    assert x.shape == (2, 3, 32, 32) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0


def test_real_orl_faces_load(tmp_path: Path) -> None:
    from shared_data import SHARED_DATA

    path = SHARED_DATA / "orl_faces.npz"
    if not path.exists():
        pytest.skip(f"{path} not present")
    data = load_dataset(path)
    assert data.images.shape == (400, 112, 92, 3) and data.num_classes == 40


def test_image_folder_loads_and_corrupt_image_is_named(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "faces")
    data = load_dataset(root)
    assert len(data) == 12 and data.names == ["person_0", "person_1", "person_2"]
    bad = root / "person_1" / "9.jpg"
    bad.write_bytes(b"not really a jpeg")
    with pytest.raises(InputError, match="9.jpg"):
        load_dataset(root)
    skipped = load_dataset(root, skip_bad_images=True)
    assert len(skipped) == 12 and skipped.skipped == [str(bad)]


@pytest.mark.parametrize("case, phrase", [
    ("empty_folder", "no identity sub-folders"),
    ("mismatch", "images but"),
    ("tiny", "smaller than 8 px"),
    ("missing_labels", "lacks labels"),
    ("text", "unreadable npz"),
])
def test_bad_datasets(case: str, phrase: str, tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    if case == "empty_folder":
        path = tmp_path / "empty"
        path.mkdir()
    elif case == "mismatch":
        make_npz(path, labels=np.arange(39) % 4)
    elif case == "tiny":
        make_npz(path, size=6)
    elif case == "missing_labels":
        np.savez(path, images=np.zeros((4, 16, 16, 3), np.uint8))
    else:
        path.write_text("hello")
    with pytest.raises(InputError, match=phrase):
        load_dataset(path)
    result = invoke("data", "split", path, "--by", "image", "--out", tmp_path / "out")
    assert_bad_input(result, phrase)


def test_single_identity_is_refused(tmp_path: Path) -> None:
    data = load_dataset(make_npz(tmp_path / "one.npz", ids=1))
    with pytest.raises(InputError, match="1 identity"):
        require_identities(data)
    result = invoke("train", "classifier", tmp_path / "one.npz", "--out", tmp_path / "o", "--epochs", "1")
    assert_bad_input(result, "at least 2")


def test_data_split_cli_round_trips(tmp_path: Path) -> None:
    source = make_npz(tmp_path / "d.npz", n=60, ids=6)
    result = invoke("data", "split", source, "--by", "identity", "--out", tmp_path / "halves")
    assert result.exit_code == 0, result.output
    private = load_dataset(tmp_path / "halves" / "private.npz")
    assert private.names == ["p0", "p2", "p4"] and set(private.labels) == {0, 1, 2}
    split = json.loads((tmp_path / "halves" / "split.json").read_text())
    assert split["counts"]["public"] == {"images": 30, "identities": 3}
    result = invoke("data", "split", tmp_path / "halves" / "private.npz", "--by", "image", "--out", tmp_path / "tt")
    assert result.exit_code == 0, result.output
    train, test = load_dataset(tmp_path / "tt" / "train.npz"), load_dataset(tmp_path / "tt" / "test.npz")
    assert len(train) + len(test) == 30 and len(test) == 6
