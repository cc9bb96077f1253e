"""The FaceNet and model-inversion plugins build the published state_dict layouts, run at 64 px,
recognise their own layouts (and only those), and split their parameters into layer groups.
"""
from __future__ import annotations

import pytest
import torch

try:
    from hardener.plugins import facenet, mi_layouts, resnet
except ImportError:  # an uninstalled checkout: ./plugins installs as hardener.plugins
    from plugins import facenet, mi_layouts, resnet

from hardener.arch import ArchitecturePlugin, Detection

CLASSES = 7
PLUGINS = {"facenet": facenet.plugin, "vgg16_64": mi_layouts.vgg16_64, "ir50": mi_layouts.ir50, "ir152": mi_layouts.ir152}
EXPECTED = {
    "facenet": (Detection("inception_resnet_v1", CLASSES, None), 512),
    "vgg16_64": (Detection("vgg16_64", CLASSES, 64), 2048),
    "ir50": (Detection("ir50", CLASSES, 64), 512),
    "ir152": (Detection("ir152", CLASSES, 64), 512),
}
PUBLISHED_KEYS = {
    "facenet": {"conv2d_1a.conv.weight": (32, 3, 3, 3), "conv2d_4b.bn.running_var": (256,),
                "repeat_1.4.branch2.2.conv.weight": (32, 32, 3, 3), "mixed_6a.branch1.2.conv.weight": (256, 192, 3, 3),
                "repeat_2.9.branch1.1.conv.weight": (128, 128, 1, 7), "mixed_7a.branch2.2.bn.weight": (256,),
                "repeat_3.4.conv2d.bias": (1792,), "block8.branch1.2.conv.weight": (192, 192, 3, 1),
                "last_linear.weight": (512, 1792), "last_bn.weight": (512,), "last_bn.running_mean": (512,),
                "logits.weight": (CLASSES, 512), "logits.bias": (CLASSES,)},
    "vgg16_64": {"feature.0.weight": (64, 3, 3, 3), "feature.1.running_mean": (64,), "feature.40.weight": (512, 512, 3, 3),
                 "feature.41.running_var": (512,), "bn.weight": (2048,), "bn.running_mean": (2048,),
                 "fc_layer.weight": (CLASSES, 2048), "fc_layer.bias": (CLASSES,)},
    "ir50": {"feature.input_layer.0.weight": (64, 3, 3, 3), "feature.input_layer.2.weight": (64,),
             "feature.body.0.res_layer.1.weight": (64, 64, 3, 3), "feature.body.3.shortcut_layer.0.weight": (128, 64, 1, 1),
             "feature.body.7.shortcut_layer.0.weight": (256, 128, 1, 1), "feature.body.21.shortcut_layer.1.weight": (512,),
             "feature.body.23.res_layer.4.weight": (512,), "feature.body.23.res_layer.2.weight": (512,),
             "output_layer.0.running_var": (512,), "output_layer.3.weight": (512, 512 * 4 * 4),
             "output_layer.4.weight": (512,), "fc_layer.weight": (CLASSES, 512)},
    "ir152": {"feature.input_layer.0.weight": (64, 3, 3, 3), "feature.body.3.shortcut_layer.0.weight": (128, 64, 1, 1),
              "feature.body.11.shortcut_layer.1.weight": (256,),
              "feature.body.49.res_layer.4.weight": (512,), "feature.body.47.shortcut_layer.0.weight": (512, 256, 1, 1),
              "output_layer.3.weight": (512, 512 * 4 * 4), "output_layer.4.running_mean": (512,),
              "fc_layer.weight": (CLASSES, 512)},
}
ABSENT_KEYS = {
    "facenet": ("block8.relu.weight", "repeat_1.5.conv2d.weight", "feature.0.weight"),
    "vgg16_64": ("feature.44.weight", "classifier.0.weight", "output_layer.3.weight"),
    "ir50": ("feature.body.24.res_layer.4.weight", "feature.output_layer.3.weight", "feature.body.0.shortcut_layer.0.weight"),
    "ir152": ("feature.body.50.res_layer.4.weight", "feature.output_layer.3.weight"),
}


def _shapes_of(state_dict: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state_dict.items()}


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return _shapes_of(model.state_dict())


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {name: plugin.build(plugin.variants[0], CLASSES, 64).eval() for name, plugin in PLUGINS.items()}


@pytest.fixture(scope="module")
def layouts(models: dict[str, torch.nn.Module]) -> dict[str, dict[str, tuple[int, ...]]]:
    shapes = {name: _shapes(model) for name, model in models.items()}
    shapes["resnet18"] = _shapes(resnet.plugin.build("resnet18", CLASSES, 64))
    return shapes


@pytest.mark.parametrize("name", PLUGINS)
def test_state_dict_has_the_published_keys(name: str, layouts: dict) -> None:
    shapes = layouts[name]
    assert {k: shapes.get(k) for k in PUBLISHED_KEYS[name]} == PUBLISHED_KEYS[name]
    assert [k for k in ABSENT_KEYS[name] if k in shapes] == []
    assert not any("preprocess" in k for k in shapes)  # the input spec's buffers stay out of the layout


def test_body_unit_counts(layouts: dict) -> None:
    def units(shapes: dict) -> int:
        return len({k.split(".")[2] for k in shapes if k.startswith("feature.body.")})
    assert (units(layouts["ir50"]), units(layouts["ir152"])) == (24, 50)


@pytest.mark.parametrize("name", PLUGINS)
def test_forward_shapes_at_64px(name: str, models: dict) -> None:
    model = models[name]
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        features, logits = model.forward_features(x), model(x)
    assert features.shape == (2, EXPECTED[name][1])
    assert logits.shape == (2, CLASSES)
    assert torch.isfinite(logits).all()
    assert torch.allclose(logits, model.forward_head(features), atol=1e-5)
    assert (model.num_features, model.num_classes) == (EXPECTED[name][1], CLASSES)


def test_facenet_upsamples_small_inputs_and_runs_at_160() -> None:
    small = facenet.plugin.build(None, 3, 64)
    assert small.preprocess.resize_to == 80
    small.set_spec(small.spec)
    assert small.preprocess.resize_to == 80  # survives a spec swap
    big = facenet.plugin.build(None, 3, None).eval()
    assert big.spec.image_size == 160 and big.preprocess.resize_to is None
    with torch.no_grad():
        assert big(torch.rand(2, 3, 160, 160)).shape == (2, 3)


def test_input_specs() -> None:
    x = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2).contiguous()
    fn = facenet.plugin.build(None, 3, 160).preprocess(x)[0, :, 0, 0]
    assert torch.allclose(fn, torch.tensor([-127.5, 0.0, 127.5]) / 128, atol=1e-6)  # (x*255 - 127.5) / 128
    for plugin in (mi_layouts.vgg16_64, mi_layouts.ir50, mi_layouts.ir152):
        spec = plugin.input_spec(plugin.variants[0])
        assert (spec.image_size, spec.mean, spec.std, spec.input_range, spec.channel_order) == \
            (64, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "0-1", "rgb")


@pytest.mark.parametrize("name", PLUGINS)
def test_features_are_the_embedding_layers_output(name: str, models: dict) -> None:
    model = models[name]
    groups = dict(model.layer_groups())
    seen: list[torch.Tensor] = []
    handle = groups["embedding"][-1].register_forward_hook(lambda _m, _i, out: seen.append(out))
    try:
        with torch.no_grad():
            features = model.forward_features(torch.rand(2, 3, 64, 64))
    finally:
        handle.remove()
    assert len(seen) == 1 and torch.equal(seen[0], features)


@pytest.mark.parametrize("name", PLUGINS)
def test_detect_reads_its_own_layout(name: str, layouts: dict) -> None:
    assert PLUGINS[name].detect(layouts[name]) == EXPECTED[name][0]


@pytest.mark.parametrize("name", PLUGINS)
def test_detect_rejects_other_layouts(name: str, layouts: dict) -> None:
    others = {other: PLUGINS[name].detect(shapes) for other, shapes in layouts.items() if other != name}
    assert others == {other: None for other in others}


def test_vgg16_64_rejects_a_vgg19_bn_backbone(layouts: dict) -> None:
    from torchvision.models import vgg
    vgg19 = {"feature." + k: v for k, v in _shapes(vgg.make_layers(vgg.cfgs["E"], batch_norm=True)).items()}
    head = {k: v for k, v in layouts["vgg16_64"].items() if not k.startswith("feature.")}
    assert mi_layouts.vgg16_64.detect({**vgg19, **head}) is None


@pytest.mark.parametrize(("plugin", "size"), [(mi_layouts.vgg16_64, 96), (mi_layouts.ir50, 112)], ids=["vgg16_64", "ir50"])
def test_detect_reads_back_other_image_sizes(plugin: ArchitecturePlugin, size: int) -> None:
    model = plugin.build(plugin.variants[0], 3, size).eval()
    detection = plugin.detect(_shapes(model))
    assert (detection.num_classes, detection.image_size) == (3, size)
    with torch.no_grad():
        assert model(torch.rand(1, 3, size, size)).shape == (1, 3)


@pytest.mark.parametrize("name", PLUGINS)
def test_layer_groups_cover_every_parameter_once(name: str, models: dict) -> None:
    model = models[name]
    grouped = [id(p) for _, modules in model.layer_groups() for m in modules for p in m.parameters()]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) == {id(p) for p in model.parameters()}
    names = [n for n, _ in model.layer_groups()]
    assert names[-1] == "head" and len(names) == len(set(names))
    assert list(model.layer_groups()[-1][1][0].parameters())[0] is model.head_layer().weight


def test_ir_adapts_forks_with_a_backbone_output_layer(models: dict) -> None:
    model = models["ir50"]
    published = model.state_dict()
    extra = {**published, **{"feature." + k: v for k, v in published.items() if k.startswith("output_layer.")}}
    nested = {("feature." + k if k.startswith("output_layer.") else k): v for k, v in published.items()}
    for fork in (extra, nested):
        adapted = mi_layouts.ir50.adapt_state_dict(fork)
        assert mi_layouts.ir50.detect(_shapes_of(fork)) == EXPECTED["ir50"][0]
        assert set(adapted) == set(published)
        model.load_state_dict(adapted, strict=True)
