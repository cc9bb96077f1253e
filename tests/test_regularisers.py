"""Training-time model-inversion defenses in the one training loop: negative label smoothing (NegLS) and
random erasing (MIDRE)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hardener.errors import InputError
from hardener.train import TrainConfig, check_regularisers, random_erase, smoothed_cross_entropy, smoothing_at


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5])
def test_positive_smoothing_is_torchs(alpha: float) -> None:
    gen = torch.Generator().manual_seed(0)
    logits, target = torch.randn(16, 7, generator=gen), torch.randint(0, 7, (16,), generator=gen)
    torch.testing.assert_close(smoothed_cross_entropy(logits, target, alpha),
                               F.cross_entropy(logits, target, label_smoothing=alpha))


def test_negative_smoothing_pushes_the_other_classes_down_harder_than_cross_entropy() -> None:
    gen = torch.Generator().manual_seed(1)
    logits, target = torch.randn(32, 5, generator=gen), torch.randint(0, 5, (32,), generator=gen)
    others = F.one_hot(target, 5) == 0

    def step(alpha: float) -> torch.Tensor:
        z = logits.clone().requires_grad_(True)
        smoothed_cross_entropy(z, target, alpha).backward()
        return (z - 0.5 * z.grad).softmax(1)[others]

    plain, negative = step(0.0), step(-0.5)
    assert negative.max() < plain.max() and negative.sum() < plain.sum()


def test_negls_schedule_waits_half_the_epochs_then_ramps_in() -> None:
    config = TrainConfig(epochs=100, label_smoothing=-0.05, smoothing_schedule="negls")
    factors = [smoothing_at(config, e) for e in range(100)]
    assert factors[:50] == [0.0] * 50
    assert factors[50] == pytest.approx(-0.05 / 25) and factors[60] == pytest.approx(-0.05 * 11 / 25)
    assert factors[74:] == [pytest.approx(-0.05)] * 26
    assert smoothing_at(TrainConfig(epochs=10, label_smoothing=-0.1), 0) == -0.1  # constant


def test_random_erasing_erases_a_bounded_rectangle_per_chosen_image_and_replays() -> None:
    x = torch.zeros(200, 3, 32, 32)
    erased = random_erase(x, 0.5, torch.Generator().manual_seed(3))
    changed = (erased != 0).flatten(1).float().mean(1)
    hit = changed > 0
    assert 0.35 < float(hit.float().mean()) < 0.65
    assert float(changed[hit].min()) >= 0.05 and float(changed[hit].max()) <= 0.45
    assert torch.equal(erased, random_erase(x, 0.5, torch.Generator().manual_seed(3)))
    assert torch.equal(random_erase(x, 0.0, torch.Generator().manual_seed(3)), x) and not erased.data_ptr() == x.data_ptr()


@pytest.mark.parametrize("changes", [{"label_smoothing": -1.5}, {"label_smoothing": float("nan")},
                                     {"smoothing_schedule": "cosine"}, {"random_erasing": 1.5}])
def test_bad_regulariser_settings_are_refused(changes: dict) -> None:
    with pytest.raises(InputError):
        check_regularisers(TrainConfig(**changes))
