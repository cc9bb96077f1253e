"""One contract test looped over every registered architecture plugin."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hardener import registry
from hardener.arch import FaceModel
from hardener.loading import load_model, save_bundle

SIZE = 32
CLASSES = 5


@pytest.fixture(scope="module", params=registry.names())
def built(request: pytest.FixtureRequest) -> tuple:
    plugin = registry.get(request.param)
    torch.manual_seed(0)
    model = plugin.build(plugin.variants[0], CLASSES, SIZE).eval()
    return plugin, model


def test_every_builtin_plugin_loads() -> None:
    assert {"resnet", "vgg", "facenet", "vgg16_64", "ir50", "ir152"} <= set(registry.names())
    registry.all_plugins()
    assert registry.failures() == {}


def test_shapes_and_feature_head_split(built: tuple) -> None:
    plugin, model = built
    assert isinstance(model, FaceModel)
    assert model.arch == plugin.name and model.variant == plugin.variants[0]
    x = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        logits = model(x)
        features = model.forward_features(x)
        assert logits.shape == (2, CLASSES)
        assert features.shape == (2, model.num_features)
        torch.testing.assert_close(model.forward_head(features), logits, rtol=0, atol=0)
    assert model.num_classes == CLASSES
    assert model.spec.image_size == SIZE and not model.spec.declared


def test_reset_classifier_changes_only_the_head(built: tuple) -> None:
    plugin, _ = built
    model = plugin.build(plugin.variants[0], CLASSES, SIZE).eval()
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(_head_prefix(model))}
    model.reset_classifier(3)
    with torch.no_grad():
        assert model(torch.rand(2, 3, SIZE, SIZE)).shape == (2, 3)
    assert model.num_classes == 3
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())


def test_layer_groups_cover_every_parameter_once_and_end_at_the_head(built: tuple) -> None:
    _, model = built
    groups = model.layer_groups()
    seen = [id(p) for _, modules in groups for m in modules for p in m.parameters()]
    assert len(seen) == len(set(seen)), "a parameter sits in two groups"
    assert set(seen) == {id(p) for p in model.parameters()}, "a parameter is in no group"
    head_ids = {id(p) for p in model.head_layer().parameters()}
    assert head_ids <= {id(p) for m in groups[-1][1] for p in m.parameters()}
    assert len(groups) >= 3


def test_safetensors_round_trip_is_exact(built: tuple, tmp_path: Path) -> None:
    _, model = built
    path = save_bundle(model, tmp_path / "m.safetensors", class_names=[f"id{i}" for i in range(CLASSES)])
    loaded = load_model(path)
    assert (loaded.arch, loaded.variant, loaded.num_classes) == (model.arch, model.variant, CLASSES)
    assert loaded.class_names == [f"id{i}" for i in range(CLASSES)]
    assert loaded.spec == model.spec
    ours, theirs = model.state_dict(), loaded.model.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    x = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.equal(model(x), loaded.model(x))


def test_exactly_one_plugin_recognises_each_layout(built: tuple) -> None:
    plugin, model = built
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    claims = {p.name: p.detect(shapes) for p in registry.all_plugins()}
    claimed = [name for name, found in claims.items() if found is not None]
    assert claimed == [plugin.name]
    found = claims[plugin.name]
    assert (found.variant, found.num_classes) == (model.variant, CLASSES)
    assert found.image_size in (None, SIZE)


def _head_prefix(model: FaceModel) -> str:
    head = model.head_layer()
    return next(name for name, m in model.named_modules() if m is head) + "."
