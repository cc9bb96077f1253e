"""Bring your own model: a declared spec reproduces the original forward; a wrong one is caught."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torchvision
from typer.testing import CliRunner

from cli_helpers import assert_bad_input
from hardener.cli.app import app
from hardener.classes import parse_classes
from hardener.data import load_dataset, to_model_input
from hardener.errors import InputError
from hardener.loading import load_model
from hardener.spec import InputSpec, spec_changes
from shared_data import LFW, needs_lfw

runner = CliRunner()
SIZE = 32
NAMES = ["ann", "bob", "cy", "dee", "eve", "fay"]


def bgr_half(x: torch.Tensor) -> torch.Tensor:
    """The user's own preprocessing: an OpenCV pipeline feeding BGR, normalised (x - 0.5) / 0.5."""
    return (x.flip(1) - 0.5) / 0.5


@pytest.fixture(scope="module")
def bgr_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path, Path, Path]:
    """A torchvision ResNet (one basic block per stage: half a ResNet-18's compute, the same layout) trained a few
    steps on 6 real identities with BGR, (x - 0.5) / 0.5 input."""
    folder = tmp_path_factory.mktemp("bgr")
    data = load_dataset(LFW)
    counts = np.bincount(data.labels)
    identities = sorted(int(i) for i in np.argsort(-counts)[:6])
    rows = np.concatenate([np.flatnonzero(data.labels == c)[:40] for c in identities])
    labels = np.array([identities.index(int(c)) for c in data.labels[rows]])
    x, y = to_model_input(data.images[rows], SIZE), torch.from_numpy(labels)
    torch.manual_seed(0)
    net = torchvision.models.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1], num_classes=6)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(60):
        batch = torch.randint(0, len(y), (32,))
        loss = torch.nn.functional.cross_entropy(net(bgr_half(x[batch])), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    weights, held, names = folder / "bgr_resnet10.pt", folder / "faces.npz", folder / "names.txt"
    torch.save(net.state_dict(), weights)
    np.savez(held, images=data.images[rows], labels=labels)
    names.write_text("\n".join(NAMES) + "\n")
    return net, weights, held, names


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.slow  # ~11 s: trains a model on LFW
@needs_lfw
def test_import_with_real_spec_reproduces_original_logits_in_torch_and_onnx(bgr_model, tmp_path: Path) -> None:
    net, weights, _, names = bgr_model
    bundle = tmp_path / "model.safetensors"
    result = invoke("import", weights, "--arch", "resnet", "--image-size", SIZE, "--normalize", "half",
                    "--channel-order", "bgr", "--class-names", names, "--out", bundle)
    assert result.exit_code == 0, result.output
    loaded = load_model(bundle)
    assert loaded.spec.declared and loaded.spec.channel_order == "bgr" and loaded.spec.mean == (0.5, 0.5, 0.5)
    x = torch.rand(5, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = net(bgr_half(x))
        torch.testing.assert_close(loaded.model(x), expected, rtol=1e-5, atol=1e-5)

    out = tmp_path / "exported"
    result = invoke("export", bundle, "--out", out)
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-4, atol=1e-4)
    meta = {p.key: p.value for p in __import__("onnx").load(str(out / "model.onnx")).metadata_props}
    assert json.loads(meta["hardener.class_names"]) == NAMES
    assert InputSpec.from_json(meta["hardener.input_spec"]).channel_order == "bgr"

    info = json.loads(invoke("info", out / "model.safetensors", "--json").output)
    assert info["class_names"] == NAMES and info["input_spec_declared"] is True


@needs_lfw
def test_info_data_names_the_real_spec_when_a_wrong_one_is_declared(bgr_model) -> None:
    _, weights, held, _ = bgr_model
    result = invoke("info", weights, "--image-size", SIZE, "--normalize", "imagenet", "--data", held, "--json")
    assert result.exit_code == 0, result.output
    check = json.loads(result.output)["spec_check"]
    assert check["clearly_wrong"] is True
    assert "expects BGR 0-1 with (x - 0.5) / 0.5" in check["verdict"]

    right = invoke("info", weights, "--image-size", SIZE, "--normalize", "half", "--channel-order", "bgr",
                   "--data", held, "--json")
    assert json.loads(right.output)["spec_check"]["clearly_wrong"] is False


@pytest.mark.parametrize("options, phrase", [
    (["--mean", "0.5,0.5", "--std", "0.5,0.5,0.5"], "--mean has 2 values"),
    (["--mean", "0,0,0", "--std", "1,0,1"], "zero"),
    (["--channel-order", "grb"], "channel order"),
    (["--normalize", "imagenet", "--mean", "0,0,0", "--std", "1,1,1"], "cannot be combined"),
    (["--input-range", "0-100"], "input range"),
])
def test_bad_spec_options_exit_2(options: list[str], phrase: str, resnet_state_dict_file: Path, tmp_path: Path) -> None:
    result = invoke("import", resnet_state_dict_file, *options, "--out", tmp_path / "m.safetensors")
    assert_bad_input(result, phrase)
    assert not (tmp_path / "m.safetensors").exists()


def test_names_file_with_wrong_line_count_exits_2(resnet_state_dict_file: Path, tmp_path: Path) -> None:
    names = tmp_path / "names.txt"
    names.write_text("a\nb\nc\n")  # the model has 7 classes
    result = invoke("import", resnet_state_dict_file, "--class-names", names, "--out", tmp_path / "m.safetensors")
    assert_bad_input(result, "3 class names for a model with 7 classes")


def test_import_refuses_to_overwrite_its_input(resnet_state_dict_file: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "m.safetensors"
    assert invoke("import", resnet_state_dict_file, "--out", bundle).exit_code == 0
    before = bundle.read_bytes()
    result = invoke("import", bundle, "--normalize", "half", "--out", bundle)
    assert_bad_input(result, "overwrite")
    assert bundle.read_bytes() == before


def test_assumed_spec_is_said_in_words(resnet_state_dict_file: Path) -> None:
    info = json.loads(invoke("info", resnet_state_dict_file, "--json").output)
    assert "assumed, plugin default" in info["input_spec"] and info["input_spec_declared"] is False


def test_spec_changes_mark_the_spec_declared() -> None:
    assert spec_changes() == {}
    assert spec_changes(normalize="half", channel_order="BGR") == {
        "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "channel_order": "bgr"}
    with pytest.raises(InputError, match="go together"):
        spec_changes(mean="0,0,0")


def test_parse_classes_accepts_indices_ranges_names_and_all() -> None:
    names = ["ann", "bob", "cy", "dee"]
    assert parse_classes("0-1,3", 4) == [0, 1, 3]
    assert parse_classes(["cy", "0", "cy"], 4, names) == [2, 0]
    assert parse_classes("all", 4) == [0, 1, 2, 3]
    for bad, phrase in (("4", "out of range"), ("3-1", "backwards"), ("zed", "not a class"), ("", "no class")):
        with pytest.raises(InputError, match=phrase):
            parse_classes(bad, 4, names)
