"""Loading every accepted layout, inference of architecture and classes, strictness, refusals."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from hardener import registry
from hardener.errors import InputError, ModelFormatError, PickleRefusedError, UnknownArchitectureError
from hardener.loading import load_model, save_bundle
from hardener.spec import IMAGENET_MEAN, IMAGENET_STD


def _tv_logits(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return net((x - mean) / std)


def _same_outputs(loaded, reference: torch.nn.Module, size: int = 32) -> None:
    x = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), _tv_logits(reference, x), rtol=1e-5, atol=1e-5)


def test_plain_state_dict_infers_arch_variant_and_classes(resnet_state_dict_file: Path, tv_resnet18) -> None:
    loaded = load_model(resnet_state_dict_file, image_size=32)
    assert (loaded.arch, loaded.variant, loaded.num_classes) == ("resnet", "resnet18", 7)
    assert loaded.source_format == "torch state_dict"
    assert not loaded.spec.declared
    _same_outputs(loaded, tv_resnet18)


def test_resnet10_state_dict_is_torchvisions_resnet_with_one_block_per_stage(tmp_path: Path) -> None:
    """ResNet-10 has no torchvision builder; a state dict of torchvision's ResNet class with [1, 1, 1, 1]
    basic blocks is detected as it, and gives the network's own logits."""
    torch.manual_seed(0)
    net = torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1], num_classes=5).eval()
    path = tmp_path / "resnet10.pt"
    torch.save(net.state_dict(), path)
    loaded = load_model(path, image_size=32)
    assert (loaded.arch, loaded.variant, loaded.num_classes) == ("resnet", "resnet10", 5)
    _same_outputs(loaded, net)


def test_half_width_resnet10_is_told_apart_by_its_channels(tmp_path: Path) -> None:
    """resnet10_w32 has ResNet-10's keys at half the channels: its state dict is detected as it, not as
    ResNet-10, and gives the network's own logits."""
    torch.manual_seed(0)
    net = registry.build_model("resnet", "resnet10_w32", 5, 32).eval()
    assert net.conv1.out_channels == 32 and net.fc.in_features == 256
    path = tmp_path / "narrow.pt"
    torch.save(net.state_dict(), path)
    loaded = load_model(path, image_size=32)
    assert (loaded.arch, loaded.variant, loaded.num_classes) == ("resnet", "resnet10_w32", 5)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded.model.eval()(x), net(x), atol=1e-6)


@pytest.mark.parametrize("container", ["state_dict", "model", "model_state_dict"])
def test_checkpoint_dicts_with_dataparallel_prefix(container: str, tmp_path: Path, tv_resnet18) -> None:
    path = tmp_path / "ckpt.pth"
    wrapped = torch.nn.DataParallel(tv_resnet18).state_dict()
    torch.save({container: wrapped, "epoch": 3, "best_acc": 0.91}, path)
    loaded = load_model(path, image_size=32)
    assert loaded.variant == "resnet18"
    assert f"['{container}']" in loaded.source_format and "module." in loaded.source_format
    _same_outputs(loaded, tv_resnet18)


def test_torchscript_archive(tmp_path: Path, tv_resnet18) -> None:
    path = tmp_path / "scripted.pt"
    torch.jit.trace(tv_resnet18, torch.rand(1, 3, 32, 32)).save(str(path))
    with pytest.raises(PickleRefusedError, match="TorchScript"):
        load_model(path, image_size=32)
    loaded = load_model(path, image_size=32, allow_pickle=True)
    assert loaded.source_format == "TorchScript"
    _same_outputs(loaded, tv_resnet18)


def test_vgg16_bn_state_dict(tmp_path: Path) -> None:
    net = torchvision.models.vgg16_bn(num_classes=4).eval()
    path = tmp_path / "vgg.pt"
    torch.save(net.state_dict(), path)
    loaded = load_model(path, image_size=32)
    assert (loaded.arch, loaded.variant, loaded.num_classes) == ("vgg", "vgg16_bn", 4)
    _same_outputs(loaded, net)


@pytest.mark.parametrize("arch, classes", [("vgg16_64", 9), ("ir50", 6), ("ir152", 3)])
def test_community_checkpoints_load_as_published(arch: str, classes: int, tmp_path: Path) -> None:
    """GMI/KED-MI files: {'state_dict': DataParallel(model).state_dict()}, 64px, [0, 1] input."""
    model = registry.get(arch).build(arch, classes, 64).eval()
    path = tmp_path / f"{arch}.tar"
    torch.save({"state_dict": torch.nn.DataParallel(model).state_dict()}, path)
    loaded = load_model(path)
    assert (loaded.arch, loaded.num_classes, loaded.spec.image_size) == (arch, classes, 64)
    assert loaded.spec.mean == (0.0, 0.0, 0.0) and loaded.spec.std == (1.0, 1.0, 1.0)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))


def test_community_layout_refuses_another_image_size(tmp_path: Path) -> None:
    model = registry.get("vgg16_64").build("vgg16_64", 3, 64)
    path = tmp_path / "vgg64.pt"
    torch.save(model.state_dict(), path)
    with pytest.raises(InputError, match="64px"):
        load_model(path, image_size=32)


def test_wrong_arch_names_the_right_one(resnet_state_dict_file: Path) -> None:
    with pytest.raises(ModelFormatError, match="use --arch resnet"):
        load_model(resnet_state_dict_file, "vgg")


def test_unknown_arch_lists_known_ones(resnet_state_dict_file: Path) -> None:
    with pytest.raises(UnknownArchitectureError, match="resnet"):
        load_model(resnet_state_dict_file, "alexnet")


def test_wrong_variant_is_a_strict_load_error(resnet_state_dict_file: Path) -> None:
    with pytest.raises(ModelFormatError, match="missing"):
        load_model(resnet_state_dict_file, variant="resnet34")


def test_strict_load_lists_missing_and_unexpected_keys(tmp_path: Path, tv_resnet18) -> None:
    sd = dict(tv_resnet18.state_dict())
    del sd["layer2.0.conv1.weight"]
    sd["extra.weight"] = torch.zeros(1)
    path = tmp_path / "broken.pt"
    torch.save(sd, path)
    with pytest.raises(ModelFormatError) as info:
        load_model(path, "resnet")
    assert "layer2.0.conv1.weight" in str(info.value) and "extra.weight" in str(info.value)


def test_pickled_module_is_refused_with_resave_hint(tmp_path: Path, tv_resnet18) -> None:
    path = tmp_path / "pickled.pt"
    torch.save(tv_resnet18, path)
    with pytest.raises(PickleRefusedError, match=r"state_dict\(\)"):
        load_model(path)
    loaded = load_model(path, image_size=32, allow_pickle=True)
    assert loaded.variant == "resnet18" and loaded.warnings
    _same_outputs(loaded, tv_resnet18)


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"hello, this is a text file\n" * 4, "not a model file"),
])
def test_files_that_are_not_models(content: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_model(path)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_truncated_files(suffix: str, tmp_path: Path, resnet_state_dict_file: Path) -> None:
    source = resnet_state_dict_file
    if suffix == ".safetensors":
        source = save_bundle(load_model(resnet_state_dict_file, image_size=32).model, tmp_path / "full.safetensors")
    data = source.read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="truncated"):
        load_model(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "nope.pt")
    with pytest.raises(InputError, match="folder"):
        load_model(tmp_path)


def test_bundle_keeps_provenance_and_class_names(tmp_path: Path, resnet_state_dict_file: Path) -> None:
    loaded = load_model(resnet_state_dict_file, image_size=32)
    names = [f"person_{i}" for i in range(7)]
    path = save_bundle(loaded.model, tmp_path / "b.safetensors", class_names=names,
                       source_sha256=loaded.source_sha256, produced_by="test")
    again = load_model(path)
    assert again.class_names == names
    assert again.metadata["source_sha256"] == loaded.source_sha256
    assert again.metadata["produced_by"] == "test"
    assert again.spec.image_size == 32
    with pytest.raises(InputError, match="class names"):
        save_bundle(loaded.model, tmp_path / "c.safetensors", class_names=["only-one"])


def test_safetensors_whose_header_length_starts_with_0x80_is_not_taken_for_a_pickle(tmp_path: Path) -> None:
    model = registry.get("resnet").build("resnet18", 3, 32)
    def header_length(pad: int) -> int:
        path = save_bundle(model, tmp_path / "b.safetensors", extra={"pad": "x" * pad})
        with open(path, "rb") as f:
            return int.from_bytes(f.read(8), "little")

    # grow the metadata until the header length's low byte is 0x80 (the header is padded to 8 bytes, so try
    # the few lengths around the one that lands there)
    start = (0x80 - header_length(0)) % 256
    pad = next(p for p in range(start, start + 16) if header_length(p) % 256 == 0x80)
    path = save_bundle(model, tmp_path / "b.safetensors", extra={"pad": "x" * pad})
    assert path.read_bytes()[0] == 0x80
    loaded = load_model(path)
    assert loaded.source_format == "safetensors" and loaded.metadata["pad"]
