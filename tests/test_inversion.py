"""The inversion engine: losses have the right sign, batching changes nothing, seeds replay."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from hardener.attacks.losses import IDENTITY_LOSSES, PRIORS
from hardener.attacks.presets import PRESETS, get_attack
from hardener.errors import InputError
from hardener.inversion import InversionConfig, invert, row_latents

LATENT, SIZE, CLASSES = 8, 8, 5


class TinyGenerator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(LATENT, 32), nn.Tanh(), nn.Linear(32, 3 * SIZE * SIZE), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 3, SIZE, SIZE)


def tiny_nets(seed: int = 0) -> tuple[nn.Module, nn.Module, nn.Module]:
    torch.manual_seed(seed)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 1))
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 16), nn.ReLU(), nn.Linear(16, CLASSES))
    with torch.no_grad():
        classifier[3].weight.mul_(8.0)  # a decisive classifier, so confidence can move
    return TinyGenerator(), critic, classifier


@pytest.mark.parametrize("name", list(IDENTITY_LOSSES))
def test_identity_loss_falls_as_target_confidence_rises(name: str) -> None:
    loss = IDENTITY_LOSSES[name]
    target = torch.tensor([2])
    values = []
    for boost in (0.0, 1.0, 3.0, 6.0):
        logits = torch.tensor([[0.5, -0.2, 0.1 + boost, 0.3, -1.0]])
        values.append(float(loss(logits, target)))
    assert values == sorted(values, reverse=True) and values[0] > values[-1], values
    logits = torch.tensor([[0.5, -0.2, 0.1, 0.3, -1.0]], requires_grad=True)
    loss(logits, target).sum().backward()
    assert logits.grad[0, 2] < 0, "the gradient must push the target logit up"


@pytest.mark.parametrize("name", list(PRIORS))
def test_priors_prefer_what_the_critic_scores_as_real(name: str) -> None:
    scores = torch.tensor([-3.0, 0.0, 3.0])
    values = PRIORS[name](scores)
    assert values[0] > values[1] > values[2]


def test_inversion_raises_target_confidence() -> None:
    generator, critic, classifier = tiny_nets()
    config = InversionConfig(steps=60, lr=0.05, optimizer="adam", lam=10.0, restarts=2, z_clamp=None)
    before = invert(generator, critic, classifier, [1, 3], config=InversionConfig(steps=1, lr=0.0, restarts=2),
                    latent_dim=LATENT)
    after = invert(generator, critic, classifier, [1, 3], config=config, latent_dim=LATENT)
    assert bool((after.confidence > before.confidence + 0.02).all()), (before.confidence, after.confidence)
    assert float(after.identity_loss.mean()) < float(before.identity_loss.mean()) - 0.2
    assert after.images.shape == (4, 3, SIZE, SIZE) and set(after.best_rows) == {1, 3}
    assert 0.0 <= float(after.images.min()) and float(after.images.max()) <= 1.0


@pytest.mark.parametrize("preset", ["gmi", "plg-margin", "patent"])
def test_batched_run_equals_each_class_alone(preset: str) -> None:
    generator, critic, classifier = tiny_nets()
    attack = get_attack(preset)
    together = attack.run(generator, critic, classifier, [0, 2, 4], latent_dim=LATENT, seed=11, steps=25, restarts=2)
    for c in (0, 2, 4):
        alone = attack.run(generator, critic, classifier, [c], latent_dim=LATENT, seed=11, steps=25, restarts=2)
        rows = together.targets == c
        torch.testing.assert_close(together.z[rows], alone.z, rtol=1e-4, atol=1e-5)


def test_seeds_replay_and_differ() -> None:
    generator, critic, classifier = tiny_nets()
    config = InversionConfig(steps=10, lr=0.05, optimizer="adam", restarts=2)
    a = invert(generator, critic, classifier, [1], config=config, latent_dim=LATENT, seed=3)
    b = invert(generator, critic, classifier, [1], config=config, latent_dim=LATENT, seed=3)
    c = invert(generator, critic, classifier, [1], config=config, latent_dim=LATENT, seed=4)
    assert torch.equal(a.z, b.z) and not torch.equal(a.z, c.z)


def test_row_latents_depend_only_on_seed_class_restart() -> None:
    both = row_latents([3, 7], 2, LATENT, seed=5)
    only_seven = row_latents([7], 2, LATENT, seed=5)
    assert torch.equal(both[2:], only_seven)


def test_stopped_rows_do_not_move() -> None:
    generator, critic, classifier = tiny_nets()
    config = InversionConfig(steps=30, lr=0.1, optimizer="adam", restarts=1, stop_confidence=0.0, z_clamp=None)
    start = row_latents([2], 1, LATENT, seed=0)[:, 0]
    result = invert(generator, critic, classifier, [2], config=config, latent_dim=LATENT, seed=0)
    assert torch.equal(result.z, start) and result.steps_run == 1


def test_best_of_n_initialisation_starts_closer() -> None:
    generator, critic, classifier = tiny_nets()
    plain = invert(generator, critic, classifier, [0, 1, 2, 3], latent_dim=LATENT,
                   config=InversionConfig(steps=1, lr=0.0, restarts=3))
    best_of = invert(generator, critic, classifier, [0, 1, 2, 3], latent_dim=LATENT,
                     config=InversionConfig(steps=1, lr=0.0, restarts=3, init_candidates=16))
    assert float(best_of.identity_loss.mean()) < float(plain.identity_loss.mean())


def test_bad_configs_are_input_errors() -> None:
    generator, critic, classifier = tiny_nets()
    with pytest.raises(InputError, match="identity loss"):
        invert(generator, critic, classifier, [0], config=InversionConfig(identity_loss="l2"))
    with pytest.raises(InputError, match="critic"):
        invert(generator, None, classifier, [0], config=InversionConfig(steps=1))


def test_presets_have_the_published_shapes() -> None:
    gmi = PRESETS["gmi"].config
    assert (gmi.steps, gmi.lr, gmi.optimizer, gmi.momentum, gmi.lam, gmi.restarts, gmi.prior) == \
        (1500, 0.02, "sgd", 0.9, 100.0, 5, "critic")
    patent = PRESETS["patent"].config
    assert (patent.steps, patent.lr, patent.identity_loss, patent.prior) == (100, 1e-3, "ce", "log-sigmoid")
    assert PRESETS["plg-margin"].config.identity_loss == "margin"
    assert PRESETS["lomma-logit"].config.identity_loss == "logit"


def test_invert_leaves_the_callers_modules_as_they_were() -> None:
    generator, critic, classifier = tiny_nets()
    classifier.train()
    classifier[1].weight.requires_grad_(False)
    invert(generator, critic, classifier, [0], config=InversionConfig(steps=2, restarts=1), latent_dim=LATENT)
    assert classifier.training and not classifier[1].weight.requires_grad and classifier[3].weight.requires_grad


def test_consecutive_batches_equal_one_batch() -> None:
    generator, critic, classifier = tiny_nets()
    config = InversionConfig(steps=15, lr=0.05, optimizer="adam", restarts=2)
    whole = invert(generator, critic, classifier, [0, 1, 2, 3, 4], config=config, latent_dim=LATENT, seed=2)
    split = invert(generator, critic, classifier, [0, 1, 2, 3, 4], config=config, latent_dim=LATENT, seed=2,
                   max_batch_rows=4)
    assert torch.equal(whole.targets, split.targets) and whole.best_rows == split.best_rows
    torch.testing.assert_close(whole.z, split.z, rtol=1e-4, atol=1e-5)
