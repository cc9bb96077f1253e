"""ONNX export: checker, dynamic batch, parity with onnxruntime for a ResNet, a VGG and FaceNet."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from hardener import registry
from hardener.errors import ExportError, InputError
from hardener.export import PARITY_TOLERANCE, check_parity, export_model
from hardener.loading import load_model
from hardener.spec import InputSpec


@pytest.mark.parametrize("arch, variant, size", [("resnet", "resnet18", 32), ("vgg16_64", "vgg16_64", 64),
                                                 pytest.param("facenet", "inception_resnet_v1", 64,
                                                              marks=pytest.mark.slow)])  # facenet: ~13 s
def test_onnx_parity_at_two_batch_sizes(arch: str, variant: str, size: int, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = registry.get(arch).build(variant, 5, size).eval()
    result = export_model(model, tmp_path, formats=("onnx",), class_names=list("abcde"))
    assert [p.batch for p in result.parity] == [1, 7]
    assert all(p.relative <= PARITY_TOLERANCE and p.logit_scale > 0 for p in result.parity)
    proto = onnx.load(str(result.files["onnx"]))
    onnx.checker.check_model(proto)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert InputSpec.from_json(meta["hardener.input_spec"]) == model.spec
    assert not any(p.endswith(".data") for p in map(str, tmp_path.iterdir())), "external data must not be written"
    # A batch size the parity check did not use: the batch axis is really dynamic.
    x = torch.rand(3, 3, size, size)
    session = ort.InferenceSession(str(result.files["onnx"]), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-4, atol=1e-4 * float(np.abs(got).max()))


def test_parity_check_fails_for_a_different_model(tmp_path: Path) -> None:
    plugin = registry.get("resnet")
    torch.manual_seed(0)
    first = plugin.build("resnet18", 4, 32).eval()
    path = export_model(first, tmp_path, formats=("onnx",)).files["onnx"]
    torch.manual_seed(1)
    second = plugin.build("resnet18", 4, 32).eval()
    with pytest.raises(ExportError, match="differs"):
        check_parity(second, path)


def test_all_formats_and_hashes(tmp_path: Path) -> None:
    model = registry.get("resnet").build("resnet18", 3, 32).eval()
    result = export_model(model, tmp_path, formats=("onnx", "safetensors", "torchscript"), stem="m")
    assert set(result.files) == {"onnx", "safetensors", "torchscript"}
    assert all(len(h) == 64 for h in result.sha256.values())
    assert load_model(result.files["torchscript"], image_size=32, allow_pickle=True).variant == "resnet18"
    report = result.to_report()
    assert report["onnx_parity"]["batches"][1]["batch"] == 7
    assert not list(tmp_path.glob(".*tmp*")), "temporary files left behind"


def test_export_never_overwrites_its_input(tmp_path: Path) -> None:
    model = registry.get("resnet").build("resnet18", 3, 32).eval()
    src = export_model(model, tmp_path, formats=("safetensors",), stem="m").files["safetensors"]
    before = src.read_bytes()
    with pytest.raises(InputError, match="overwrite"):
        export_model(model, tmp_path, formats=("safetensors",), stem="m", inputs=(src,))
    assert src.read_bytes() == before
