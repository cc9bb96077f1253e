"""Hostile and broken inputs, built here: each must end in exit 2, one stderr line, no traceback, and leave
every input byte-identical. Grouped by what goes wrong: data loss, non-finite values, sizes read from a file,
silently accepted values, and files that are not what their name says."""
from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from cli_helpers import assert_bad_input, run
from hardener.data.splits import save_npz
from hardener.data.synthetic import synthetic_faces
from hardener.registry import build_model
from hardener.loading import save_bundle

pytestmark = pytest.mark.usefixtures("one_thread")


def _digest(path: Path) -> str:
    if path.is_dir():
        return hashlib.sha256(b"".join(_digest(p).encode() for p in sorted(path.rglob("*")) if p.is_file())).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_refused(result, inputs: dict[Path, str], *phrases: str) -> None:
    """The bad-input contract plus: no input changed."""
    assert_bad_input(result, *phrases)
    for path, before in inputs.items():
        assert _digest(path) == before, f"{path} changed"


def _unchanged(*paths: Path) -> dict[Path, str]:
    return {p: _digest(p) for p in paths}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    faces = synthetic_faces(3, 6, 32, seed=0)
    model = build_model("resnet", "resnet18", 3, 32)
    paths = {"faces": save_npz(faces, root / "faces.npz"),
             "model": save_bundle(model, root / "model.safetensors")}
    return paths


def _tampered_bundle(world: dict, path: Path, *, metadata: dict | None = None, weights=None) -> Path:
    from safetensors import safe_open

    with safe_open(str(world["model"]), framework="pt") as fh:
        stored = dict(fh.metadata())
    tensors = load_file(str(world["model"]))
    if weights is not None:
        weights(tensors)
    save_file(tensors, str(path), metadata={**stored, **(metadata or {})})
    return path


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


# --- data loss: an output may never replace an input ---------------------------------------------------

def test_split_into_the_input_folder_refuses_to_overwrite_it(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    data = save_npz(synthetic_faces(3, 8, 32, seed=0), folder / "train.npz")
    before = _unchanged(data)
    assert_refused(run("data", "split", data, "--by", "image", "--out", folder), before, "input")


def test_train_refuses_data_named_like_its_output(world, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    data = out / "model.safetensors"  # an npz under the name train writes its model to
    data.write_bytes(world["faces"].read_bytes())
    before = _unchanged(data)
    assert_refused(run("train", "classifier", data, "--image-size", "32", "--epochs", "1", "--out", out), before, "input")


def test_audit_mia_refuses_members_named_like_its_report(world, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    members = out / "report.json"
    members.write_bytes(world["faces"].read_bytes())
    others = save_npz(synthetic_faces(3, 6, 32, seed=1), tmp_path / "others.npz")
    before = _unchanged(members, world["model"])
    assert_refused(run("audit-mia", world["model"], "--members", members, "--non-members", others,
                       "--out", out), before, "input")


def test_import_to_an_existing_folder(world, tmp_path: Path) -> None:
    folder = tmp_path / "bundle.safetensors"
    folder.mkdir()
    assert_refused(run("import", world["model"], "--out", folder), _unchanged(world["model"]), "folder")


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_out_that_cannot_be_created(world, tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = blocker / "sub" if where == "under_a_file" else Path("/proc/hardener-out")
    assert_refused(run("export", world["model"], "--out", out), _unchanged(world["model"], blocker), "--out")


# --- non-finite values never pass as "ok" ---------------------------------------------------------------

@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_where_the_model_is_read(world, tmp_path: Path, value: float) -> None:
    def poison(tensors):
        tensors["fc.weight"][0, 0] = value

    bad = _tampered_bundle(world, tmp_path / "bad.safetensors", weights=poison)
    before = _unchanged(bad)
    assert_refused(run("export", bad, "--out", tmp_path / "exported"), before, "NaN or Inf", "fc.weight")
    assert not (tmp_path / "exported" / "model.onnx").exists()
    assert_refused(run("info", bad), before, "NaN or Inf")


@pytest.mark.parametrize("option", [("--std", "inf,inf,inf", "--mean", "0,0,0"), ("--mean", "nan,0,0", "--std", "1,1,1")])
def test_non_finite_spec_is_refused(world, option) -> None:
    assert_refused(run("info", world["model"], *option), _unchanged(world["model"]), "finite")


@pytest.mark.parametrize("args", [("--lr", "nan"), ("--lr", "inf"), ("--seed", "-1"), ("--seed", "100000000000000000000000"),
                                  ("--seed", "1e23"), ("--val-fraction", "-0.5"), ("--image-size", "0"),
                                  ("--image-size", "1000000")])
def test_numeric_options_out_of_range(world, tmp_path: Path, args) -> None:
    assert_refused(run("train", "classifier", world["faces"], *args, "--out", tmp_path / "o"), _unchanged(world["faces"]),
                   args[0])
    assert not (tmp_path / "o" / "model.safetensors").exists()


def test_protect_lr_nan(world, tmp_path: Path) -> None:
    assert_refused(run("protect", world["model"], "--gan", world["model"], "--protect", "1", "--lr", "nan",
                       "--out", tmp_path / "o"), _unchanged(world["model"]), "--lr")


# --- sizes and counts read from a file are checked before anything is allocated --------------------------

@pytest.mark.parametrize("count", ["-1", "1000000000", "two"])
def test_bundle_class_count(world, tmp_path: Path, count: str) -> None:
    bad = _tampered_bundle(world, tmp_path / "bad.safetensors", metadata={"num_classes": count})
    assert_refused(run("info", bad), _unchanged(bad), str(bad))


def test_bundle_stored_image_size(world, tmp_path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(world["model"]), framework="pt") as fh:
        spec = json.loads(fh.metadata()["input_spec"])
    bad = _tampered_bundle(world, tmp_path / "bad.safetensors", metadata={"input_spec": json.dumps({**spec, "image_size": 10**6})})
    assert_refused(run("info", bad), _unchanged(bad), "image size")


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height: PIL reads the size without decoding pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def _image_folder(root: Path, sizes: list[tuple[int, int]]) -> Path:
    from PIL import Image

    for i, size in enumerate(sizes):
        person = root / f"person{i % 2}"
        person.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (i * 40 % 255, 90, 120)).save(person / f"{i}.png")
    return root


@pytest.mark.parametrize("pixels", [(15000, 15000), (9500, 9500), (5000, 5000)])
def test_decompression_bombs_and_oversized_photos(tmp_path: Path, pixels) -> None:
    folder = _image_folder(tmp_path / "faces", [(40, 40)] * 4)
    bomb = _png_header_only(folder / "person0" / "zz_bomb.png", *pixels)
    before = _unchanged(folder)
    assert_refused(run("data", "split", folder, "--by", "image", "--out", tmp_path / "o"), before, str(bomb), "too large")
    skipped = run("data", "split", folder, "--by", "image", "--skip-bad-images", "--out", tmp_path / "o")
    assert skipped.exit_code == 0, skipped.output
    assert str(bomb) in json.loads((tmp_path / "o" / "split.json").read_text())["skipped_bad_images"]


def test_image_folder_of_mixed_sizes_is_refused_not_silently_resized(tmp_path: Path) -> None:
    folder = _image_folder(tmp_path / "faces", [(40, 40), (40, 40), (40, 60), (40, 40)])
    assert_refused(run("data", "split", folder, "--by", "image", "--out", tmp_path / "o"), _unchanged(folder), "40x60")


def test_npz_whose_header_claims_huge_images(tmp_path: Path) -> None:
    """The shape is read from the .npy header; the 2 TB array is never allocated."""
    import zipfile

    path = tmp_path / "huge.npz"
    header = {"descr": "|u1", "fortran_order": False, "shape": (10**6, 1000, 1000, 3)}
    with zipfile.ZipFile(path, "w") as archive:
        with archive.open("images.npy", "w") as fh:
            np.lib.format.write_array_header_1_0(fh, header)
        with archive.open("labels.npy", "w") as fh:
            np.save(fh, np.zeros(3, np.int64))
    assert_refused(run("data", "split", path, "--by", "image", "--out", tmp_path / "o"), _unchanged(path), "limits")


# --- values that used to be accepted silently -------------------------------------------------------------

@pytest.mark.parametrize("labels, phrase", [
    (np.array([0.7, 1.7, 0.2] * 4), "fractional"),
    (np.array(["a", "b", "c"] * 4), "not integers"),
    (np.array([0.0, np.nan, 1.0] * 4), "NaN"),
])
def test_labels_that_are_not_class_indices(tmp_path: Path, labels, phrase: str) -> None:
    images = np.zeros((12, 32, 32, 3), np.uint8)
    path = _npz(tmp_path / "bad.npz", images=images, labels=labels)
    assert_refused(run("data", "split", path, "--by", "image", "--out", tmp_path / "o"), _unchanged(path), phrase)


def test_npy_given_for_npz(tmp_path: Path) -> None:
    path = tmp_path / "images.npz"
    with open(path, "wb") as fh:
        np.save(fh, np.zeros((4, 32, 32, 3), np.uint8))
    assert_refused(run("data", "split", path, "--by", "image", "--out", tmp_path / "o"), _unchanged(path), ".npy")


def test_missing_classes_from_file(world, tmp_path: Path) -> None:
    assert_refused(run("train", "classifier", world["faces"], "--classes-from", tmp_path / "nope.txt",
                       "--out", tmp_path / "o"), _unchanged(world["faces"]), "nope.txt")


# --- files that are not what they claim ---------------------------------------------------------------------

@pytest.mark.parametrize("command", [("info",), ("attack", "--gan")])
def test_random_bytes(world, tmp_path: Path, command) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    args = ("info", junk) if command == ("info",) else ("attack", world["model"], "--classes", "0", "--gan", junk, "--eval-model",
                                                         world["model"], "--data", world["faces"], "--out", tmp_path / "o")
    assert_refused(run(*args), _unchanged(junk), str(junk))


def test_torchscript_with_allow_pickle_warns(tmp_path: Path) -> None:
    net = build_model("resnet", "resnet18", 3, 32).eval()
    path = tmp_path / "scripted.pt"
    torch.jit.trace(net, torch.rand(1, 3, 32, 32)).save(str(path))
    assert_refused(run("info", path), _unchanged(path), "--allow-pickle")
    result = run("info", path, "--allow-pickle")
    assert result.exit_code == 0, result.output
    assert "warning" in result.output and "TorchScript" in result.output


def test_planted_gan_checkpoint_is_refused_without_suggesting_allow_pickle(world, tmp_path: Path) -> None:
    out = tmp_path / "gan"
    (out / "checkpoints").mkdir(parents=True)

    planted = out / "checkpoints" / "gan_checkpoint.pt"
    torch.save({"format": "x", "obj": Payload()}, planted)
    result = run("train", "gan", world["faces"], "--image-size", "32", "--epochs", "1", "--resume", "--out", out)
    assert_refused(result, _unchanged(planted), "pickled")
    assert "--allow-pickle" not in result.output


@pytest.mark.parametrize("command", [("train", "classifier"), ("train", "gan")])
def test_resume_into_a_folder_without_a_checkpoint_makes_no_folder(world, tmp_path: Path, command) -> None:
    out = tmp_path / "typo"
    assert_bad_input(run(*command, world["faces"], "--image-size", "32", "--epochs", "1", "--resume", "--out", out),
                     "no checkpoint")
    assert not out.exists()


class Payload:
    """Any pickled class: weights_only=True refuses it."""


# --- the error line itself -------------------------------------------------------------------------------------

def test_error_lines_carry_no_terminal_control_codes() -> None:
    from hardener.cli.common import plain

    assert plain("\x1b[31mbad\x1b[0m file\x07") == "bad file"


def test_a_gate_check_whose_value_is_not_finite_fails() -> None:
    from hardener.report.gate import Check

    for value in (float("nan"), float("inf")):
        check = Check("attack accuracy", True, value, 5.0, "%")  # as a caller whose `value <= limit` missed NaN
        assert not check.passed and "not a finite number" in check.detail


def test_onnx_parity_that_is_not_finite_fails() -> None:
    from hardener.export import Parity

    assert Parity(1, 1e-7, 3.0).ok
    assert not Parity(1, float("nan"), 3.0).ok and not Parity(1, 1e-7, float("nan")).ok
