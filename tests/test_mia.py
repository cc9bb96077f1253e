"""Membership-inference audit: the ROC math on hand-checkable numbers, LiRA on synthetic phis, the
threshold attacks and LiRA on tiny real models, and `hardener audit-mia` through the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_helpers import assert_bad_input, run
from hardener.audit.lira import check_shadow_halves, lira_scores, shadow_masks, shadow_phis
from hardener.audit.mia import (check_audit_sets, confidence_scores, logit_confidence, loss_scores, mia_auc,
                                model_logits, strongest_attack)
from hardener.jobs.audit_mia import AuditMiaJob, run_audit_mia
from hardener.audit.roc import auc, balanced_accuracy, evaluate, roc_curve, tpr_at_fpr
from hardener.report.plots import roc_png
from hardener.errors import InputError
from hardener.train import TrainConfig

IDS, TRAIN_PER_ID, HELD_PER_SET = 5, 6, 40
TARGET_CONFIG = TrainConfig(epochs=30, batch_size=32, lr=1e-3, augment=False, seed=0)  # overfits 30 images


# ---- ROC math ------------------------------------------------------------------------------------

def test_hand_checked_roc() -> None:
    members, non_members = np.array([0.9, 0.8, 0.4, 0.3]), np.array([0.7, 0.5, 0.2, 0.1])
    fpr, tpr, _ = roc_curve(members, non_members)
    assert fpr.tolist() == [0, 0, 0, 0.25, 0.5, 0.5, 0.5, 0.75, 1.0]
    assert tpr.tolist() == [0, 0.25, 0.5, 0.5, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert auc(fpr, tpr) == pytest.approx(12 / 16)  # Mann-Whitney: 12 of 16 pairs ordered right
    assert balanced_accuracy(fpr, tpr) == pytest.approx(0.75)
    assert tpr_at_fpr(fpr, tpr, 0.001) == (0.5, 0.0)  # below 1/4: read at FPR 0
    assert tpr_at_fpr(fpr, tpr, 0.25) == (0.5, 0.0)  # the lowest FPR giving that TPR is reported
    assert tpr_at_fpr(fpr, tpr, 0.49) == (0.5, 0.0)  # no interpolation towards the next corner
    assert tpr_at_fpr(fpr, tpr, 0.5) == (1.0, 0.5)
    report = evaluate(members, non_members).to_dict()
    assert report["members"] == 4 and report["non_members"] == 4 and report["lowest_nonzero_fpr"] == 0.25
    assert report["tpr_at_fpr"] == {"0.001": 0.5, "0.01": 0.5}


def _brute_force(members: np.ndarray, non_members: np.ndarray, target: float) -> dict:
    """The documented conventions spelled out: a threshold t says "member" for scores >= t, one threshold per
    distinct score plus one above them all; AUC as the Mann-Whitney probability with ties counting half."""
    points = [(0.0, 0.0)] + [((non_members >= t).mean(), (members >= t).mean())
                             for t in sorted(set(members) | set(non_members), reverse=True)]
    allowed = [(f, t) for f, t in points if f <= target]
    best_tpr = max(t for _, t in allowed)
    above, tied = members[:, None] > non_members[None, :], members[:, None] == non_members[None, :]
    return {"points": np.array(points), "tpr": best_tpr, "fpr": min(f for f, t in allowed if t == best_tpr),
            "auc": float((above + 0.5 * tied).mean()),
            "balanced_accuracy": max((t + 1.0 - f) / 2.0 for f, t in points)}


@pytest.mark.parametrize("kind", ["continuous", "tied", "coarse", "infinite"])
def test_roc_matches_a_brute_force_reference(kind: str) -> None:
    rng = np.random.default_rng(["continuous", "tied", "coarse", "infinite"].index(kind))
    for _ in range(25):
        m, k = (int(v) for v in rng.integers(1, 120, 2))
        if kind == "continuous":
            members, non_members = rng.normal(0.5, 1, m), rng.normal(0, 1, k)
        elif kind == "tied":  # a handful of distinct scores: most thresholds move both rates at once
            members, non_members = rng.integers(0, 4, m).astype(float), rng.integers(0, 3, k).astype(float)
        elif kind == "coarse":  # confidences rounded like an API returns them
            members, non_members = np.round(rng.random(m) ** 0.5, 2), np.round(rng.random(k), 2)
        else:  # saturated scores: tied infinities are one threshold
            members, non_members = rng.normal(1, 1, m), rng.normal(0, 1, k)
            members[rng.random(m) < 0.3], non_members[rng.random(k) < 0.1] = np.inf, -np.inf
            non_members[0] = np.inf
        fpr, tpr, thresholds = roc_curve(members, non_members)
        for target in (0.001, 0.01, 0.1, 0.37):
            reference = _brute_force(members, non_members, target)
            np.testing.assert_allclose(np.c_[fpr, tpr], reference["points"], rtol=0, atol=1e-12)
            result = evaluate(members, non_members, targets=(target,))
            assert result.auc == pytest.approx(reference["auc"], abs=1e-12)
            assert result.balanced_accuracy == pytest.approx(reference["balanced_accuracy"], abs=1e-12)
            assert result.tpr_at_fpr[target] == pytest.approx(reference["tpr"], abs=1e-12)
            assert result.fpr_reached[target] == pytest.approx(reference["fpr"], abs=1e-12)
        assert thresholds[0] == np.inf and np.all(np.diff(thresholds[1:]) < 0)  # one per distinct score


def test_auc_of_identical_and_separated_distributions() -> None:
    rng = np.random.default_rng(0)
    same = evaluate(rng.normal(size=4000), rng.normal(size=4000))
    assert same.auc == pytest.approx(0.5, abs=0.03)  # sd of the AUC here is about 0.0065
    assert same.balanced_accuracy < 0.55
    assert evaluate(np.ones(5), np.ones(7)).auc == 0.5  # all ties count half
    apart = evaluate(rng.normal(10, 1, 300), rng.normal(0, 1, 300))
    assert apart.auc == 1.0 and apart.balanced_accuracy == 1.0 and apart.tpr_at_fpr[0.001] == 1.0
    assert evaluate(np.zeros(3), np.ones(3)).auc == 0.0  # perfectly wrong way round


def test_scores_from_logits() -> None:
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0], [200.0, 0.0, 0.0]])
    labels = np.array([0, 2, 0])
    p = np.exp(logits[:2]) / np.exp(logits[:2]).sum(1, keepdims=True)
    p_true = p[[0, 1], [0, 2]]
    assert np.allclose(confidence_scores(logits, labels)[:2], p_true, atol=1e-6)
    assert np.allclose(loss_scores(logits, labels)[:2], np.log(p_true))
    phi = logit_confidence(logits, labels)
    assert np.allclose(phi[:2], np.log(p_true / (1 - p_true)))
    assert np.isfinite(phi).all() and phi[2] == pytest.approx(200 - np.log(2))  # p rounds to 1, phi does not


def test_shadow_masks_are_balanced_and_seeded() -> None:
    even, odd = shadow_masks(101, 4, seed=3), shadow_masks(101, 3, seed=3)
    assert (even.sum(0) == 2).all() and set(odd.sum(0).tolist()) == {1, 2}
    assert all(35 <= n <= 66 for n in even.sum(1)) and all(35 <= n <= 66 for n in odd.sum(1))
    assert (shadow_masks(101, 4, seed=3) == even).all() and not (shadow_masks(101, 4, seed=4) == even).all()


def test_lira_separates_synthetic_in_and_out_phis() -> None:
    rng = np.random.default_rng(0)
    k, n = 16, 400
    base = rng.normal(0, 2, n)  # examples differ in difficulty: what LiRA's per-example means correct for
    mask = shadow_masks(n, k, seed=0)
    shadow = base + np.where(mask, 1.5, 0.0) + rng.normal(0, 0.5, (k, n))
    member = np.arange(n) < n // 2
    target = base + np.where(member, 1.5, 0.0) + rng.normal(0, 0.5, n)
    lira = lira_scores(shadow, mask, target)
    assert evaluate(lira.scores[member], lira.scores[~member]).auc > 0.9
    assert evaluate(target[member], target[~member]).auc < 0.8  # the plain threshold is fooled by difficulty
    assert lira.own_variance_in == 0 and lira.global_std_in == pytest.approx(0.5, abs=0.05)
    own = lira_scores(shadow, mask, target, per_example_min=8)
    assert own.own_variance_in == n and own.own_variance_out == n


def test_lira_falls_back_for_missing_shadows() -> None:
    mask = np.array([[True, True, False], [False, True, False]])  # example 1: never out; example 2: never in
    phi = np.array([[3.0, 4.0, 0.0], [0.0, 5.0, 1.0]])
    lira = lira_scores(phi, mask, np.array([3.0, 4.5, 0.5]))
    assert np.isfinite(lira.scores).all()
    assert lira.imputed_out_mean == 1 and lira.imputed_in_mean == 1 and lira.own_variance_in == 0
    with pytest.raises(ValueError):
        lira_scores(phi, np.ones_like(mask), np.zeros(3))  # nothing to compare


def test_roc_png(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    curves = {"a": evaluate(rng.normal(1, 1, 50), rng.normal(0, 1, 50)), "b": evaluate(rng.random(9), rng.random(9))}
    path = roc_png(curves, tmp_path / "roc.png")
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        pixels = np.asarray(im.convert("RGB"))
    assert im.format == "PNG" and pixels.shape[1] > 800
    assert ((pixels == (31, 119, 180)).all(-1)).sum() > 100  # the first curve's colour is drawn
    assert ((pixels == (255, 127, 14)).all(-1)).sum() > 100  # and the second's (matplotlib's default cycle: C0, C1)
    assert [p.name for p in tmp_path.iterdir()] == ["roc.png"]  # written in place, no temporary left behind


def test_max_auc_counts_an_attack_whose_members_score_lower() -> None:
    rng = np.random.default_rng(2)
    flipped = evaluate(rng.normal(-2, 1, 200), rng.normal(0, 1, 200))  # members score LOWER
    chance = evaluate(rng.normal(0, 1, 200), rng.normal(0, 1, 200))
    assert flipped.auc < 0.15  # the raw AUC stays as measured
    name, max_auc = strongest_attack({"flipped": flipped.auc, "chance": chance.auc})
    assert name == "flipped" and max_auc == pytest.approx(1 - flipped.auc, abs=1e-6) and max_auc > 0.85
    assert strongest_attack({"a": 0.3, "b": 0.6}) == ("a", 0.7)  # 0.3 leaks more than 0.6


class _Brightness(torch.nn.Module):
    """A parameter-free 'model' whose confidence in class 0 grows with image brightness."""

    num_classes = 2

    def __init__(self) -> None:
        super().__init__()
        from types import SimpleNamespace

        self.spec = SimpleNamespace(image_size=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([8 * m, torch.zeros_like(m)], dim=1)


def test_mia_auc_reports_a_leak_when_members_score_lower() -> None:
    from hardener.data import FaceDataset

    rng = np.random.default_rng(3)
    def faces(low: int, high: int) -> FaceDataset:
        images = rng.integers(low, high, (40, 4, 4, 3)).astype(np.uint8)
        return FaceDataset(images, np.zeros(40, np.int64), None, f"{low}-{high}")

    members, non_members = faces(0, 100), faces(150, 256)  # the model is LESS confident on its "members"
    result = mia_auc(_Brightness(), members, non_members)
    assert all(a["auc"] == 0.0 for a in result["attacks"].values())  # raw AUCs kept
    assert result["max_auc"] == 1.0 and "1 - auc" in result["max_auc_note"]
    assert ">= 0.5 by construction" in result["balanced_accuracy_note"]


def test_model_logits_restores_each_module_mode() -> None:
    from hardener.registry import build_model

    model = build_model("resnet", "resnet10", 3, 32)
    model.train()
    frozen = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    frozen.eval()  # as train_mode_except_frozen leaves frozen normalisation layers
    before = [m.training for m in model.modules()]
    logits = model_logits(model, np.zeros((3, 32, 32, 3), np.uint8))
    assert logits.shape == (3, 3) and logits.dtype == np.float64
    assert [m.training for m in model.modules()] == before and not frozen.training and model.training
    assert next(model.parameters()).device.type == "cpu"


def test_shadow_halves_need_two_images_of_two_identities() -> None:
    from hardener.data import FaceDataset

    pool = FaceDataset(np.zeros((4, 8, 8, 3), np.uint8), np.array([0, 0, 1, 1]), None, "pool")
    check_shadow_halves(pool, np.array([[True, False, True, False], [False, True, False, True]]))
    with pytest.raises(InputError, match="shadow 2 of 2 would train on 2 image.* of 1 identity"):
        check_shadow_halves(pool, np.array([[False, True, True, False], [True, True, False, False]]))
    with pytest.raises(InputError, match="--reference"):
        check_shadow_halves(pool, np.array([[True, True, True, False], [False, False, False, True]]))


def test_shadow_lr_must_be_finite(tmp_path: Path) -> None:
    for lr in (float("inf"), float("nan"), 0.0):
        job = AuditMiaJob(model=tmp_path / "m", members="x", non_members="y", out=tmp_path / "o", shadows=2,
                          shadow_config=TrainConfig(lr=lr))
        with pytest.raises(InputError, match="finite learning rate"):
            run_audit_mia(job)  # refused before any file is read


def test_diverged_shadow_is_an_input_error() -> None:
    """A learning rate far too high really diverges (non-finite confidences); the error names the fix."""
    from hardener.data.synthetic import synthetic_faces
    from hardener.registry import build_model

    pool = synthetic_faces(2, 4, image_size=32, seed=0)
    target = build_model("resnet", "resnet18", 2, 32)
    with pytest.raises(InputError, match="shadow 1 of 2 diverged .*lower --shadow-lr"):
        shadow_phis(target, pool, shadow_masks(len(pool), 2, seed=0), len(pool), TrainConfig(epochs=1, lr=10.0))


# ---- tiny real models ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """5 identities at 32 px: 6 training images each (a ResNet-10 overfits them without augmentation),
    and two disjoint held-out sets of 40 each; saved as files for the CLI."""
    from hardener.data import subset
    from hardener.data.splits import save_npz
    from hardener.data.splits import split_by_image
    from hardener.data.synthetic import synthetic_faces
    from hardener.registry import build_model
    from hardener.loading import save_bundle
    from hardener.train import train_classifier

    faces = synthetic_faces(IDS, TRAIN_PER_ID + 2 * HELD_PER_SET, image_size=32, seed=0)
    train_rows, held_rows = split_by_image(faces.labels, 2 * HELD_PER_SET / (TRAIN_PER_ID + 2 * HELD_PER_SET), seed=0)
    held = subset(faces, held_rows)
    a_rows, b_rows = split_by_image(held.labels, 0.5, seed=1)
    train, held_a, held_b = subset(faces, train_rows), subset(held, a_rows), subset(held, b_rows)
    assert len(train) == IDS * TRAIN_PER_ID and len(held_a) == len(held_b) == IDS * HELD_PER_SET
    small_rows, _ = split_by_image(held_a.labels, 1 - TRAIN_PER_ID / HELD_PER_SET, seed=2)
    held_small = subset(held_a, small_rows)  # as many non-members as members, for LiRA's pool
    torch.manual_seed(0)
    model = build_model("resnet", "resnet10", IDS, 32)
    train_classifier(model, train, config=TARGET_CONFIG)
    root = tmp_path_factory.mktemp("mia")
    return {"model": model, "train": train, "held_a": held_a, "held_b": held_b, "held_small": held_small,
            "model_path": save_bundle(model, root / "model.safetensors", class_names=faces.names),
            "train_path": save_npz(train, root / "train.npz"),
            "held_small_path": save_npz(held_small, root / "held_small.npz"),
            "reference_path": save_npz(subset(held_b, np.arange(10)), root / "reference.npz"), "root": root}


def test_threshold_attack_is_chance_on_two_unseen_sets(world: dict) -> None:
    result = mia_auc(world["model"], world["held_a"], world["held_b"])
    for name, metrics in result["attacks"].items():  # 200 vs 200: the AUC's sd is about 0.03
        assert metrics["auc"] == pytest.approx(0.5, abs=0.15), name
    assert result["members"] == result["non_members"] == IDS * HELD_PER_SET


def test_threshold_attack_detects_overfit_training_set(world: dict) -> None:
    result = mia_auc(world["model"], world["train"], world["held_a"])
    assert result["max_auc"] > 0.7
    assert result["attacks"]["loss"]["balanced_accuracy"] > 0.6


def test_mia_auc_refuses_overlap_and_foreign_labels(world: dict) -> None:
    from hardener.data import FaceDataset

    with pytest.raises(InputError, match="overlap: 30 non-member"):
        mia_auc(world["model"], world["train"], world["train"])
    train = world["train"]
    foreign = FaceDataset(train.images, train.labels + IDS, None, "foreign")
    with pytest.raises(InputError, match="outside the model's 5 classes"):
        check_audit_sets(train, foreign, IDS)
    with pytest.raises(InputError, match="reference image"):
        check_audit_sets(train, world["held_a"], IDS, reference=world["held_a"])
    with pytest.raises(InputError, match="no images"):
        check_audit_sets(train, FaceDataset(train.images[:0], train.labels[:0], None, "empty"), IDS)


@pytest.mark.slow  # ~12 s: trains shadow models
def test_lira_end_to_end_on_overfit_model(world: dict) -> None:
    job = AuditMiaJob(model=world["model_path"], members=str(world["train_path"]),
                      non_members=str(world["held_small_path"]), out=world["root"] / "lira", shadows=2,
                      shadow_config=TARGET_CONFIG, device="cpu")  # shadows trained like the target
    report = run_audit_mia(job)
    lira = report["attacks"]["lira"]
    assert np.isfinite(lira["auc"]) and lira["auc"] > 0.6
    assert report["attacks"]["loss"]["auc"] > 0.7
    assert report["config"]["lira"]["shadow_train_sizes"] == [30, 30]
    assert report["config"]["lira"]["fallbacks"]["imputed_in_mean"] == 0


def test_lira_shadows_resume_from_their_checkpoints(world: dict, tmp_path: Path) -> None:
    """Stopped after shadow 2 of 3, then resumed: only shadow 3 trains, and the phis equal an uninterrupted
    run's bit for bit (a resume that silently started over would train three)."""
    from dataclasses import replace

    from hardener.audit.lira import shadow_pool
    from hardener.jobs.checkpoints import shadow_checkpoints

    pool = shadow_pool([world["train"], world["held_small"]], 32)
    masks, config = shadow_masks(len(pool), 3, seed=0), TrainConfig(epochs=1, batch_size=16, seed=0)
    model = world["model"]
    whole = shadow_phis(model, pool, masks, len(pool), config, checkpoints=shadow_checkpoints(tmp_path / "whole", False))

    def stop_after_two(event) -> None:
        if event.task == "shadow models" and event.completed == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        shadow_phis(model, pool, masks, len(pool), config, checkpoints=shadow_checkpoints(tmp_path / "split", False),
                    progress=stop_after_two)
    trained: list[str] = []
    resumed = shadow_phis(model, pool, masks, len(pool), config, checkpoints=shadow_checkpoints(tmp_path / "split", True),
                          progress=lambda e: trained.append(e.message) if "trained on" in e.message else None)
    assert len(trained) == 1 and trained[0].startswith("shadow 3/3")
    np.testing.assert_array_equal(resumed, whole)
    with pytest.raises(InputError, match="other options"):
        shadow_phis(model, pool, masks, len(pool), replace(config, lr=2e-3),
                    checkpoints=shadow_checkpoints(tmp_path / "split", True))


# ---- CLI -----------------------------------------------------------------------------------------

def _cli(*args: object):
    return run("audit-mia", *args)


def test_cli_writes_report_and_png(world: dict) -> None:
    from PIL import Image

    out = world["root"] / "cli"
    result = _cli(world["model_path"], "--members", world["train_path"], "--non-members", world["held_small_path"],
                  "--out", out, "--shadows", 2, "--shadow-epochs", 1, "--reference", world["reference_path"],
                  "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "lira" in result.output and "AUC" in result.output
    report = json.loads((out / "report.json").read_text())
    assert set(report["attacks"]) == {"confidence", "loss", "lira"}
    assert report["counts"] == {"members": 30, "non_members": 30, "reference": 10}
    assert report["config"]["lira"]["pool"] == 70 and sum(report["config"]["lira"]["shadow_train_sizes"]) == 70
    assert report["config"]["lira"]["shadow_training"]["epochs"] == 1 and "hardener" in report["versions"]
    with Image.open(out / "roc.png") as im:
        im.verify()
    as_json = _cli(world["model_path"], "--members", world["train_path"], "--non-members", world["held_small_path"],
                   "--out", world["root"] / "cli_json", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert set(json.loads(as_json.output)["attacks"]) == {"confidence", "loss"}


def test_cli_refuses_overlap_and_one_shadow(world: dict) -> None:
    common = ("--out", world["root"] / "bad", "--device", "cpu")
    assert_bad_input(_cli(world["model_path"], "--members", world["train_path"], "--non-members",
                           world["train_path"], *common), "overlap: 30")
    assert_bad_input(_cli(world["model_path"], "--members", world["train_path"], "--non-members",
                           world["held_small_path"], "--shadows", 1, *common), "at least 2 shadow models")
    assert_bad_input(_cli(world["model_path"], "--members", world["train_path"], "--non-members",
                           world["held_small_path"], "--resume", *common), "--resume only applies")
    assert_bad_input(_cli(world["model_path"], "--members", world["train_path"], "--non-members",
                           world["held_small_path"], "--shadows", 2, "--resume", *common), "no checkpoint")
    assert not (world["root"] / "bad").exists()


def test_cli_refuses_infinite_lr_and_a_pool_too_small_for_shadows(world: dict, tmp_path: Path) -> None:
    from hardener.data import subset
    from hardener.data.splits import save_npz

    common = ("--out", tmp_path / "out", "--device", "cpu")
    assert_bad_input(_cli(world["model_path"], "--members", world["train_path"], "--non-members",
                           world["held_small_path"], "--shadows", 2, "--shadow-lr", "inf", *common),
                      "--shadow-lr", "not a finite number")
    train = world["train"]
    two_ids = subset(train, np.array([0, int(np.flatnonzero(train.labels != train.labels[0])[0])]))
    members = save_npz(two_ids, tmp_path / "m.npz")
    non_members = save_npz(subset(world["held_a"], np.arange(1)), tmp_path / "n.npz")  # pool of 3: a shadow gets <= 1
    assert_bad_input(_cli(world["model_path"], "--members", members, "--non-members", non_members,
                           "--shadows", 2, *common), "would train on")
    assert not (tmp_path / "out").exists()  # refused before writing anything or training a shadow
