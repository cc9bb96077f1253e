"""Attack metrics: hits, k-NN distances and Fréchet distances on evaluation models whose answers we know."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from hardener.arch import FaceModel
from hardener.audit.fid import inception_fid, load_inception
from hardener.audit.metrics import (AttackMetrics, attack_metrics, class_margins, feature_frechet_distance,
                                    frechet_distance, target_hits)
from hardener.data.datasets import FaceDataset, to_model_input
from hardener.errors import InputError, ModelFormatError
from hardener.attacks.engine import InversionResult
from hardener.spec import InputSpec

SIZE = 8
DIM = 3 * SIZE * SIZE


class PixelModel(FaceModel):
    """Features are the raw pixels (no normalisation), so distances are known; the head is ours to set."""

    arch, variant = "pixels", "test"

    def __init__(self, num_classes: int) -> None:
        super().__init__(InputSpec(image_size=SIZE, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)))
        self.head = nn.Linear(DIM, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.preprocess(x).flatten(1)

    def head_layer(self) -> nn.Linear:
        return self.head


def private_faces(classes: int = 4, per: int = 3, seed: int = 0) -> FaceDataset:
    """Each class is a random pattern plus small per-image noise, ordered class by class."""
    rng = np.random.default_rng(seed)
    patterns = rng.integers(20, 236, size=(classes, SIZE, SIZE, 3))
    noise = rng.integers(-12, 13, size=(classes, per, SIZE, SIZE, 3))
    images = (patterns[:, None] + noise).reshape(classes * per, SIZE, SIZE, 3).astype(np.uint8)
    return FaceDataset(images, np.repeat(np.arange(classes), per).astype(np.int64), None, "private-test")


def nearest_mean_model(data: FaceDataset) -> PixelModel:
    """A linear classifier that picks the nearest class mean: right on the private images."""
    x = to_model_input(data.images, SIZE).flatten(1)
    labels = torch.from_numpy(data.labels)
    means = torch.stack([x[labels == c].mean(0) for c in range(data.num_classes)])
    model = PixelModel(data.num_classes)
    with torch.no_grad():
        model.head.weight.copy_(means)
        model.head.bias.copy_(-0.5 * (means * means).sum(1))
    return model


def fixed_ranking_model(num_classes: int) -> PixelModel:
    """Logits ignore the image: class 0 first, then 1, 2, ..."""
    model = PixelModel(num_classes)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.arange(num_classes, 0, -1, dtype=torch.float32))
    return model


def result_of(targets: list[int], restarts: list[int], images: torch.Tensor) -> InversionResult:
    rows = len(targets)
    t = torch.tensor(targets)
    best = {}
    for row, c in enumerate(targets):
        best.setdefault(c, row)
    return InversionResult(targets=t, restarts=torch.tensor(restarts), z=torch.zeros(rows, 1), images=images,
                           confidence=torch.zeros(rows), identity_loss=torch.zeros(rows), best_rows=best)


def perfect_result(data: FaceDataset) -> InversionResult:
    """The private images themselves, one restart per private image."""
    per = np.bincount(data.labels)
    restarts = [r for c in range(len(per)) for r in range(per[c])]
    return result_of(data.labels.tolist(), restarts, to_model_input(data.images, SIZE))


def constant_images(values: list[int]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).div(255).view(-1, 1, 1, 1).expand(-1, 3, SIZE, SIZE).clone()


# --- attack metrics ------------------------------------------------------------------------------

def test_perfect_reconstructions_score_perfectly() -> None:
    data = private_faces()
    model = nearest_mean_model(data)
    x = to_model_input(data.images, SIZE)
    assert torch.equal(model(x).argmax(1), torch.from_numpy(data.labels)), "precondition: E is right on the data"
    metrics = attack_metrics(perfect_result(data), model, data, batch_size=5)
    assert isinstance(metrics, AttackMetrics)
    assert metrics.top1 == 1.0 and metrics.top5 == 1.0 and metrics.any_restart_top1 == 1.0
    assert metrics.knn_distance == pytest.approx(0.0, abs=1e-5)
    assert metrics.feature_frechet_distance == pytest.approx(0.0, abs=1e-6)
    assert metrics.rows == 12 and metrics.private_images == 12 and metrics.topk == 4
    assert sorted(metrics.per_class) == [0, 1, 2, 3]
    for values in metrics.per_class.values():
        assert set(values) == {"top1", "top5", "confidence", "knn_distance", "sure_top1", "photo_margin", "cross_top1"}
        assert values["top1"] == 1.0 and values["knn_distance"] == pytest.approx(0.0, abs=1e-5)
        assert 0.25 < values["confidence"] <= 1.0


def test_a_hit_counts_as_sure_only_at_a_margin_the_persons_own_photos_reach() -> None:
    data = private_faces()
    model = nearest_mean_model(data)
    x = to_model_input(data.images, SIZE)
    photo_margins = class_margins(model(x).detach(), torch.from_numpy(data.labels))
    own = x[:3][photo_margins[:3].argmax()]  # class 0's surest photo
    other = x[3]  # a photo of class 1
    images = torch.stack([own, 0.55 * own + 0.45 * other, 0.3 * own + 0.7 * other])
    row_margins = class_margins(model(images).detach(), torch.zeros(3, dtype=torch.long))
    assert row_margins[0] > row_margins[1] > 0 > row_margins[2], "precondition: a sure hit, a weak hit, a miss"
    metrics = attack_metrics(result_of([0, 0, 0], [0, 1, 2], images), model, data)
    bar = metrics.per_class[0]["photo_margin"]
    assert bar == pytest.approx(float(torch.quantile(photo_margins[:3].double(), 0.1)), rel=1e-5)
    assert row_margins[1] < bar <= row_margins[0]
    assert metrics.top1 == pytest.approx(2 / 3) and metrics.sure_top1 == pytest.approx(1 / 3)
    assert metrics.per_class[0]["sure_top1"] == pytest.approx(1 / 3)
    assert metrics.recovered_margin == pytest.approx(float(row_margins[:2].mean()), rel=1e-5)  # two hits' median
    assert json.loads(json.dumps(metrics.to_dict()))["sure_top1"] == pytest.approx(1 / 3)
    missed = attack_metrics(result_of([0], [0], images[2:]), model, data)
    assert missed.sure_top1 == 0.0 and math.isnan(missed.recovered_margin)
    assert missed.to_dict()["recovered_margin"] is None


def test_cross_top1_is_how_often_E_names_a_class_on_the_other_classes_reconstructions() -> None:
    data = private_faces()
    model = nearest_mean_model(data)
    x = to_model_input(data.images, SIZE)  # classes 0-3, three photos each, all named right (the first test)
    images = torch.stack([x[0], x[1], x[3], x[0], x[1], x[2]])  # aimed at 0, 0, 1, 1, 1, 1: three photos of 0 at 1
    metrics = attack_metrics(result_of([0, 0, 1, 1, 1, 1], [0, 1, 0, 1, 2, 3], images), model, data)
    assert metrics.per_class[0]["cross_top1"] == pytest.approx(3 / 4)  # class 1's rows that E names 0
    assert metrics.per_class[1]["cross_top1"] == 0.0
    assert metrics.cross_top1 == pytest.approx(3 / 8)
    assert metrics.per_class[1]["top1"] == pytest.approx(1 / 4)
    alone = attack_metrics(result_of([0], [0], x[:1]), model, data)
    assert math.isnan(alone.cross_top1) and alone.to_dict()["cross_top1"] is None
    assert alone.to_dict()["per_class"]["0"]["cross_top1"] is None


def test_class_margins_are_the_targets_lead_over_the_best_other_class() -> None:
    logits = torch.tensor([[3.0, 1.0, 2.5], [0.0, 4.0, 1.0], [1.0, 1.0, 0.0]])
    margins = class_margins(logits, torch.tensor([0, 2, 1]))
    assert margins.tolist() == pytest.approx([0.5, -3.0, 0.0])


def test_wrong_class_reconstructions_score_zero_and_are_far() -> None:
    data = private_faces()
    model = nearest_mean_model(data)
    perfect = perfect_result(data)
    shifted = result_of(((torch.from_numpy(data.labels) + 1) % 4).tolist(), perfect.restarts.tolist(), perfect.images)
    metrics = attack_metrics(shifted, model, data)
    assert metrics.top1 == 0.0 and metrics.any_restart_top1 == 0.0
    assert all(v["top1"] == 0.0 for v in metrics.per_class.values())
    assert metrics.knn_distance > 1.0  # other classes' patterns are far in pixel space
    assert metrics.feature_frechet_distance == pytest.approx(0.0, abs=1e-6)  # same image set, other labels


def test_top5_is_the_true_top5() -> None:
    num_classes = 7
    data = private_faces(classes=num_classes, per=1)
    model = fixed_ranking_model(num_classes)  # class c is ranked (c + 1)-th for every image
    images = constant_images([100] * num_classes)
    metrics = attack_metrics(result_of(list(range(num_classes)), [0] * num_classes, images), model, data)
    assert metrics.topk == 5
    assert [metrics.per_class[c]["top1"] for c in range(num_classes)] == [1, 0, 0, 0, 0, 0, 0]
    assert [metrics.per_class[c]["top5"] for c in range(num_classes)] == [1, 1, 1, 1, 1, 0, 0]
    assert metrics.top1 == pytest.approx(1 / 7) and metrics.top5 == pytest.approx(5 / 7)
    third = attack_metrics(result_of([2, 2], [0, 1], images[:2]), model, data)  # target ranked 3rd
    assert third.top1 == 0.0 and third.top5 == 1.0 and third.any_restart_top1 == 0.0


def test_top5_uses_all_classes_when_there_are_fewer_than_5() -> None:
    data = private_faces(classes=3, per=1)
    metrics = attack_metrics(result_of([2], [0], constant_images([100])), fixed_ranking_model(3), data)
    assert metrics.topk == 3 and metrics.top1 == 0.0 and metrics.top5 == 1.0


def test_target_hits_match_torch_topk_and_ties_count_against() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 9, generator=gen)
    targets = torch.randint(0, 9, (200,), generator=gen)
    top1, top5 = target_hits(logits, targets, 5)
    assert torch.equal(top1, logits.argmax(1) == targets)
    assert torch.equal(top5, (logits.topk(5, dim=1).indices == targets[:, None]).any(1))
    assert bool((top5 | ~top1).all()), "a top-1 hit is always a top-5 hit"
    top1, top5 = target_hits(torch.zeros(2, 9), torch.tensor([0, 4]), 5)  # all tied: no evidence
    assert not top1.any() and not top5.any()
    top1, _ = target_hits(torch.tensor([[float("nan"), 0.0, -1.0]]), torch.tensor([1]), 1)
    assert not top1.any()


def test_any_restart_counts_classes_while_top1_counts_rows() -> None:
    data = private_faces()
    model = nearest_mean_model(data)
    x = to_model_input(data.images, SIZE)
    first = {c: x[3 * c] for c in range(4)}
    # class 0: only restart 0 right; class 1: all right; classes 2 and 3: every restart shows another class.
    plan = {0: [0, 1, 1], 1: [1, 1, 1], 2: [3, 3, 0], 3: [0, 1, 2]}
    targets = [c for c in range(4) for _ in range(3)]
    images = torch.stack([first[shown] for c in range(4) for shown in plan[c]])
    metrics = attack_metrics(result_of(targets, [0, 1, 2] * 4, images), model, data)
    assert metrics.top1 == pytest.approx(4 / 12)
    assert metrics.any_restart_top1 == pytest.approx(2 / 4)
    assert [metrics.per_class[c]["top1"] for c in range(4)] == pytest.approx([1 / 3, 1.0, 0.0, 0.0])


def test_knn_distance_is_to_the_nearest_private_image_of_the_same_class() -> None:
    # Class 0 private images are flat grey 51 and 153, class 1 is 230. A reconstruction of flat 128 is
    # 25/255 per pixel from class 0's nearest image, and 102/255 from class 1 (though class 0's 153 is nearer).
    data = FaceDataset(constant_images([51, 153, 230]).mul(255).round().byte().permute(0, 2, 3, 1).numpy(),
                       np.array([0, 0, 1]), None, "flat")
    model = fixed_ranking_model(2)
    metrics = attack_metrics(result_of([0, 1], [0, 0], constant_images([128, 128])), model, data)
    scale = math.sqrt(DIM) / 255
    assert metrics.per_class[0]["knn_distance"] == pytest.approx(25 * scale, rel=1e-5)
    assert metrics.per_class[1]["knn_distance"] == pytest.approx(102 * scale, rel=1e-5)
    assert metrics.knn_distance == pytest.approx((25 + 102) / 2 * scale, rel=1e-5)
    assert metrics.per_class[0]["confidence"] == pytest.approx(1 / (1 + math.exp(-1)), rel=1e-5)


def test_reconstructions_are_resized_and_the_model_mode_restored() -> None:
    data = private_faces()
    model = nearest_mean_model(data).train()
    big = perfect_result(data)
    big.images = nn.functional.interpolate(big.images, scale_factor=2, mode="nearest")
    metrics = attack_metrics(big, model, data)
    assert metrics.top1 == 1.0
    assert any("resized from 16x16 to 8x8" in note for note in metrics.notes)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    attack_metrics(perfect_result(data), model, data)
    assert not any(m.training for m in model.modules())
    assert all(p.requires_grad for p in model.parameters()), "requires_grad untouched"


def test_frechet_is_nan_with_a_reason_when_a_side_has_one_sample() -> None:
    data = private_faces(classes=2, per=1)
    model = nearest_mean_model(data)
    metrics = attack_metrics(result_of([0], [0], to_model_input(data.images[:1], SIZE)), model, data)
    assert math.isnan(metrics.feature_frechet_distance)
    assert any("NaN" in note and "at least 2" in note for note in metrics.notes)
    out = json.loads(json.dumps(metrics.to_dict(), allow_nan=False))
    assert out["feature_frechet_distance"] is None and out["top1"] == 1.0 and "0" in out["per_class"]


def test_bad_inputs_raise_input_errors() -> None:
    data = private_faces()
    model = nearest_mean_model(data)
    good = perfect_result(data)
    with pytest.raises(InputError, match="outside the evaluation model"):
        attack_metrics(result_of([4], [0], good.images[:1]), model, data)
    with pytest.raises(InputError, match="class 2"):  # the attacked class has no private image
        keep = data.labels != 2
        attack_metrics(good, model, FaceDataset(data.images[keep], data.labels[keep], None, "partial"))
    with pytest.raises(InputError, match="private label 7"):
        attack_metrics(good, model, FaceDataset(data.images, np.where(data.labels == 3, 7, data.labels), None, "x"))
    with pytest.raises(InputError, match="no reconstructions"):
        attack_metrics(result_of([], [], torch.zeros(0, 3, SIZE, SIZE)), model, data)
    with pytest.raises(InputError, match="3 reconstructions for 12"):
        attack_metrics(result_of(good.targets.tolist(), good.restarts.tolist(), good.images[:3]), model, data)
    with pytest.raises(InputError, match="finite"):
        broken = good.images.clone()
        broken[0, 0, 0, 0] = float("nan")
        attack_metrics(result_of(good.targets.tolist(), good.restarts.tolist(), broken), model, data)
    with pytest.raises(InputError, match="batch size"):
        attack_metrics(good, model, data, batch_size=0)


# --- Fréchet distance ----------------------------------------------------------------------------

def test_frechet_matches_the_closed_form_for_diagonal_gaussians() -> None:
    gen = torch.Generator().manual_seed(1)
    a, b = torch.rand(6, generator=gen, dtype=torch.float64) + 0.1, torch.rand(6, generator=gen, dtype=torch.float64) + 0.1
    mu1, mu2 = torch.randn(6, generator=gen, dtype=torch.float64), torch.randn(6, generator=gen, dtype=torch.float64)
    expected = float(((a.sqrt() - b.sqrt()) ** 2).sum() + ((mu1 - mu2) ** 2).sum())
    assert frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b)) == pytest.approx(expected, rel=1e-6)
    # one dimension: (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance(torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([-2.0]), torch.tensor([[9.0]])) \
        == pytest.approx(9.0 + 1.0, rel=1e-9)


def test_frechet_matches_an_independent_trace_sqrtm_for_full_covariances() -> None:
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(5, 5, generator=gen, dtype=torch.float64), torch.randn(5, 5, generator=gen, dtype=torch.float64)
    s1, s2 = x @ x.T + 0.1 * torch.eye(5, dtype=torch.float64), y @ y.T
    mu1, mu2 = torch.randn(5, generator=gen, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)
    # S1 S2 is similar to a PSD matrix, so its (general) eigenvalues are real and non-negative.
    trace_sqrt = torch.linalg.eigvals(s1 @ s2).real.clamp(min=0).sqrt().sum()
    expected = float(mu1 @ mu1 + torch.trace(s1) + torch.trace(s2) - 2 * trace_sqrt)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-9)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_feature_frechet_properties_and_both_routes_agree() -> None:
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(40, 6, generator=gen)
    b = torch.randn(30, 6, generator=gen) * 2 + 0.5
    d = feature_frechet_distance(a, b)  # 40 * 30 > 36: the covariance route
    assert d > 1.0
    assert feature_frechet_distance(b, a) == pytest.approx(d, rel=1e-9)
    assert feature_frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    shift = torch.tensor([1.0, -2.0, 0.0, 0.5, 3.0, 0.0])
    assert feature_frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), rel=1e-6)
    a64 = a.double()
    mu, cov = a64.mean(0), torch.cov(a64.T)
    mu_b, cov_b = b.double().mean(0), torch.cov(b.double().T)
    assert d == pytest.approx(frechet_distance(mu, cov, mu_b, cov_b), rel=1e-9)
    # few samples in many dimensions: the low-rank route must equal the full D x D computation
    few, other = torch.randn(5, 50, generator=gen), torch.randn(7, 50, generator=gen) + 0.3
    full = frechet_distance(few.double().mean(0), torch.cov(few.double().T), other.double().mean(0),
                            torch.cov(other.double().T))
    assert feature_frechet_distance(few, other) == pytest.approx(full, rel=1e-6)
    assert feature_frechet_distance(other, few) == pytest.approx(full, rel=1e-6)
    assert math.isnan(feature_frechet_distance(a[:1], b))
    with pytest.raises(InputError, match="dimensions"):
        feature_frechet_distance(a, b[:, :5])
    with pytest.raises(InputError, match="expected"):
        frechet_distance(torch.zeros(3), torch.eye(2), torch.zeros(3), torch.eye(3))


# --- Inception FID (a randomly initialised Inception-v3: tests the plumbing, not the numbers) -------

@pytest.fixture(scope="module")
def inception_file(tmp_path_factory: pytest.TempPathFactory):
    torch.manual_seed(0)
    model = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    path = tmp_path_factory.mktemp("inception") / "inception_v3.pt"
    torch.save({"module." + k: v for k, v in model.state_dict().items()}, path)  # a DataParallel-style file
    return path, model.state_dict()


def test_inception_fid_runs_on_user_weights(inception_file) -> None:
    path, _ = inception_file
    gen = torch.Generator().manual_seed(4)
    recon = torch.rand(4, 3, 32, 32, generator=gen)
    real = torch.rand(4, 3, 40, 40, generator=gen) * 0.3
    fid = inception_fid(recon, real, path, "cpu", batch_size=3)
    assert math.isfinite(fid) and fid > 0
    same = inception_fid(recon[:2], recon[:2], path, "cpu")
    assert same == pytest.approx(0.0, abs=1e-6 * max(1.0, fid))
    assert math.isnan(inception_fid(recon[:1], real[:2], path, "cpu"))


def test_inception_weights_are_checked_strictly(inception_file, tmp_path) -> None:
    path, state = inception_file
    model = load_inception(path)
    assert isinstance(model.fc, nn.Identity) and not model.training
    assert torch.equal(model.Conv2d_1a_3x3.conv.weight, state["Conv2d_1a_3x3.conv.weight"])
    partial = tmp_path / "partial.pt"
    torch.save({k: v for k, v in state.items() if not k.startswith("Mixed_7c.")}, partial)
    with pytest.raises(ModelFormatError, match="missing"):
        load_inception(partial)
    resnet = tmp_path / "resnet.pt"
    torch.save(torchvision.models.resnet18().state_dict(), resnet)
    with pytest.raises(ModelFormatError, match="Inception-v3"):
        load_inception(resnet)
    with pytest.raises(InputError, match="not found"):
        load_inception(tmp_path / "nothing.pt")
