"""The inversion engine: losses have the right sign, batching changes nothing, seeds replay."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from hardener.attacks.losses import IDENTITY_LOSSES, PRIORS
from dataclasses import replace

from hardener.attacks.adaptive_decoy import escape_rate, top_log_odds
from hardener.attacks.augment import row_warps, warp
from hardener.attacks.lomma_aug import SmallNet
from hardener.attacks.presets import BUDGETS, PRESETS, expand_presets, get_attack, get_budget
from hardener.checkpoint import CacheFolder
from hardener.errors import InputError
from hardener.attacks.engine import InversionConfig, invert, row_latents, share_at_clamp

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


def test_share_at_clamp_counts_coordinates_on_the_boxs_wall() -> None:
    """Natural draws put about a third of N(0, 1) at |z| >= 1; a long strong climb with a clamp drives latents
    to the wall, and the share says so (the demo's LOMMA-logit: 0.86, docs/MEASUREMENTS.md)."""
    z = torch.tensor([[1.0, -1.0, 0.5, 0.9995], [0.0, -0.2, -0.9999, 0.3]])
    assert share_at_clamp(z, 1.0) == pytest.approx(4 / 8)
    assert share_at_clamp(z, None) is None and share_at_clamp(torch.zeros(0, 4), 1.0) is None
    natural = torch.randn(4096, 8, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    assert 0.28 < share_at_clamp(natural, 1.0) < 0.36
    generator, critic, classifier = tiny_nets()
    climbed = invert(generator, critic, classifier, [1, 3], latent_dim=LATENT,
                     config=InversionConfig(steps=60, lr=0.5, optimizer="adam", lam=100.0, restarts=4,
                                            identity_loss="logit", z_clamp=1.0))
    assert share_at_clamp(climbed.z, 1.0) > 0.6


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_batched_run_equals_each_class_alone(preset: str) -> None:
    """Also for PPA's per-row augmentation draws, the adaptive attacker's per-row penalty and what `prepare`
    builds first (LOMMA's surrogates, PLG-MI's class-conditional generator), as the jobs run them."""
    generator, critic, classifier = tiny_nets()
    public = tiny_nets(seed=1)[2]
    attack = get_attack(preset)
    inverted = attack.prepare(classifier, generator, LATENT, budget_fraction=BUDGETS["quick"].steps_fraction, seed=11,
                              public_classifier=public)
    together = attack.run(generator, critic, inverted, [0, 2, 4], latent_dim=LATENT, seed=11, steps=25, restarts=2,
                          public_classifier=public)
    for c in (0, 2, 4):
        alone = attack.run(generator, critic, inverted, [c], latent_dim=LATENT, seed=11, steps=25, restarts=2,
                           public_classifier=public)
        rows = together.targets == c
        torch.testing.assert_close(together.z[rows], alone.z, rtol=1e-4, atol=1e-5)
        assert together.best_rows[c] - int(rows.nonzero()[0]) == alone.best_rows[c]


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
    ppa = PRESETS["ppa"].config
    assert (ppa.identity_loss, ppa.augment, ppa.select) == ("poincare", "ppa", "augmented")
    assert PRESETS["adaptive-decoy"].needs_public_classifier and PRESETS["adaptive-decoy"].config.identity_loss == "margin"
    trapdoor = PRESETS["adaptive-trapdoor"].config
    assert (trapdoor.identity_loss, trapdoor.augment, trapdoor.select) == ("margin", "ppa", "augmented")


def test_invert_leaves_the_callers_modules_as_they_were() -> None:
    generator, critic, classifier = tiny_nets()
    classifier.train()
    classifier[1].weight.requires_grad_(False)
    invert(generator, critic, classifier, [0], config=InversionConfig(steps=2, restarts=1), latent_dim=LATENT)
    assert classifier.training and not classifier[1].weight.requires_grad and classifier[3].weight.requires_grad


def test_invert_gives_back_each_submodules_own_mode() -> None:
    """An ensemble (lomma-aug) is a new module in train mode around a target in eval mode: restoring the
    wrapper's mode recursively would switch the caller's target to training."""
    generator, critic, classifier = tiny_nets()
    classifier.eval()
    wrapper = nn.Sequential(classifier)
    assert wrapper.training and not classifier.training
    invert(generator, critic, wrapper, [0], config=InversionConfig(steps=1, restarts=1), latent_dim=LATENT)
    assert wrapper.training and not classifier.training


def test_consecutive_batches_equal_one_batch() -> None:
    generator, critic, classifier = tiny_nets()
    config = InversionConfig(steps=15, lr=0.05, optimizer="adam", restarts=2)
    whole = invert(generator, critic, classifier, [0, 1, 2, 3, 4], config=config, latent_dim=LATENT, seed=2)
    split = invert(generator, critic, classifier, [0, 1, 2, 3, 4], config=config, latent_dim=LATENT, seed=2,
                   max_batch_rows=4)
    assert torch.equal(whole.targets, split.targets) and whole.best_rows == split.best_rows
    torch.testing.assert_close(whole.z, split.z, rtol=1e-4, atol=1e-5)


def test_warps_are_per_row_differentiable_and_stay_in_range() -> None:
    images = torch.rand(3, 3, SIZE, SIZE, requires_grad=True)
    uniforms = row_warps([0, 1, 2], 1, seed=4, count=1, views=2, salt=1)[:, 0]
    warped = warp(images, uniforms)
    assert warped.shape == (6, 3, SIZE, SIZE) and 0.0 <= float(warped.detach().min()) <= float(warped.detach().max()) <= 1.0
    torch.testing.assert_close(warp(images[1:2], uniforms[1:2]), warped[2:4])  # a row's warp ignores the others
    assert not torch.allclose(warped[0], images[0]), "a warp must change the image"
    warped.sum().backward()
    assert float(images.grad.abs().sum()) > 0
    flip = torch.tensor([[[0.5, 0.5, 0.5, 0.5, 0.0, 0.5]]])  # centred crop, no rotation, flipped
    keep = flip.clone()
    keep[..., 4] = 1.0
    torch.testing.assert_close(warp(images[:1], flip), warp(images[:1], keep).flip(3), rtol=1e-4, atol=1e-5)


def test_augmented_selection_keeps_the_row_with_the_best_mean_confidence() -> None:
    generator, critic, classifier = tiny_nets()
    config = InversionConfig(steps=5, lr=0.05, optimizer="adam", restarts=4, identity_loss="poincare",
                             augment="ppa", select="augmented", select_views=8)
    result = invert(generator, critic, classifier, [1, 3], config=config, latent_dim=LATENT, seed=2)
    assert result.augmented_confidence is not None and result.augmented_confidence.shape == (8,)
    for c in (1, 3):
        rows = (result.targets == c).nonzero().view(-1)
        assert result.best_rows[c] == int(rows[result.augmented_confidence[rows].argmax()])
    plain = invert(generator, critic, classifier, [1, 3], config=InversionConfig(steps=5, lr=0.05, optimizer="adam",
                   restarts=4, identity_loss="poincare"), latent_dim=LATENT, seed=2)
    assert not torch.equal(plain.z, result.z), "the augmentation must change the optimisation"


def test_penalty_is_added_to_each_rows_objective() -> None:
    generator, critic, classifier = tiny_nets()
    config = InversionConfig(steps=40, lr=0.05, optimizer="adam", restarts=2, z_clamp=None)
    plain = invert(generator, critic, classifier, [0, 1], config=config, latent_dim=LATENT, seed=1)
    dark = invert(generator, critic, classifier, [0, 1], config=config, latent_dim=LATENT, seed=1,
                  penalty=lambda images: 1e4 * images[:, 0, 0, 0])  # "keep the top-left red pixel dark"
    assert bool((dark.images[:, 0, 0, 0] < plain.images[:, 0, 0, 0] - 0.05).all())


def test_adaptive_attack_needs_the_public_classifier_and_escape_rate_counts_unsure_rows() -> None:
    generator, critic, classifier = tiny_nets()
    with pytest.raises(InputError, match="public classifier"):
        get_attack("adaptive-decoy").run(generator, critic, classifier, [0], latent_dim=LATENT, steps=1, restarts=1)
    result = invert(generator, critic, classifier, [0, 1], config=InversionConfig(steps=1, restarts=3),
                    latent_dim=LATENT)
    sure, unsure = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 4)), nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 4))
    with torch.no_grad():
        sure[1].weight.zero_(), sure[1].bias.copy_(torch.tensor([9.0, 0, 0, 0]))
        unsure[1].weight.zero_(), unsure[1].bias.zero_()
    assert escape_rate(result, sure) == 0.0 and escape_rate(result, unsure) == 1.0
    assert float(top_log_odds(torch.tensor([[0.0, 0.0]]))) == 0.0  # p = 0.5 is the border


@pytest.mark.parametrize("preset, small", [("adaptive-decoy", {}),
                                           ("plg-gan-adaptive", dict(pool_images=256, top_k=8, train_steps=10))])
def test_adaptive_penalty_lowers_the_public_classifiers_confidence(preset: str, small: dict) -> None:
    """The same search with the penalty off (mu 0) and on; plg-gan-adaptive through one conditional generator."""
    generator, critic, classifier = tiny_nets()
    public = tiny_nets(seed=3)[2]
    with torch.no_grad():
        public[3].weight.mul_(4.0)
    attack = replace(get_attack(preset), **small)
    target = attack.prepare(classifier, generator, LATENT, seed=1, public_classifier=public)  # trained once
    with pytest.raises(InputError, match="public classifier"):
        attack.run(generator, critic, target, [0], latent_dim=LATENT, steps=1, restarts=1)
    plain = replace(attack, mu=0.0).run(generator, critic, target, [0, 1, 2], latent_dim=LATENT, seed=5, steps=40,
                                        restarts=3, public_classifier=public)
    adaptive = attack.run(generator, critic, target, [0, 1, 2], latent_dim=LATENT, seed=5, steps=40, restarts=3,
                          public_classifier=public)
    with torch.no_grad():
        log_odds = [float(top_log_odds(public(r.images)).mean()) for r in (plain, adaptive)]
    assert log_odds[1] < log_odds[0] - 0.5, log_odds
    public.train()  # given back in its own mode, gradients on
    attack.run(generator, critic, target, [0], latent_dim=LATENT, steps=1, restarts=1, public_classifier=public)
    assert public.training and all(p.requires_grad for p in public.parameters())


def test_low_pass_removes_a_fine_trigger_and_keeps_coarse_images() -> None:
    from hardener.attacks.adaptive_trapdoor import LowPass, blur, gaussian_kernel

    side = 32
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    checker = ((rows + cols) % 2 * 2 - 1).float().expand(1, 3, side, side)  # the finest pattern: +-1 per pixel
    ramp = (cols.float() / (side - 1)).expand(1, 3, side, side)  # a coarse image: one smooth gradient
    kernel = gaussian_kernel(1.0)
    assert float(kernel.sum()) == pytest.approx(1.0) and kernel.numel() == 7
    assert blur(checker, kernel).shape == checker.shape
    assert float(blur(checker, kernel)[..., 4:-4, 4:-4].abs().max()) < 0.05  # 1 -> under 5 %
    assert torch.allclose(blur(ramp, kernel)[..., 4:-4], ramp[..., 4:-4], atol=1e-5)  # linear: unchanged inside
    assert torch.allclose(blur(torch.full_like(ramp, 0.3), kernel), torch.full_like(ramp, 0.3), atol=1e-6)
    # a classifier with a trapdoor: class 0's logit is the image's correlation with the checkerboard
    trapdoored = nn.Sequential(nn.Flatten(), nn.Linear(3 * side * side, 2, bias=False))
    with torch.no_grad():
        trapdoored[1].weight.copy_(torch.stack([checker.flatten(), ramp.flatten()]))
    seen = get_attack("adaptive-trapdoor").prepare(trapdoored, TinyGenerator(), LATENT)
    assert isinstance(seen, LowPass) and seen.target is trapdoored
    triggered = 0.5 + 0.02 * checker  # a grey image carrying the trigger at Trap-MID's 2 % blend
    with torch.no_grad():
        raw, filtered = trapdoored(triggered)[0], seen(triggered)[0]
        assert float(filtered[0] - trapdoored(torch.full_like(ramp, 0.5))[0, 0]) < 0.05 * float(raw[0])
        assert float(filtered[1]) == pytest.approx(float(raw[1]), rel=0.05)  # the coarse evidence survives


def test_budgets_scale_and_explicit_steps_win() -> None:
    gmi = PRESETS["gmi"]
    assert BUDGETS["paper"].scale(gmi) == (1500, 5)
    assert BUDGETS["standard"].scale(gmi) == (300, 2)
    assert BUDGETS["quick"].scale(PRESETS["patent"]) == (5, 1)
    assert BUDGETS["standard"].scale(gmi, steps=7, restarts=3) == (7, 3)
    with pytest.raises(InputError, match="unknown budget"):
        get_budget("huge")


def test_fast_budget_is_a_fifth_of_paper_latent_steps_with_each_preset_restarts() -> None:
    fast, paper = BUDGETS["fast"], BUDGETS["paper"]
    for attack in PRESETS.values():
        steps, restarts = fast.scale(attack)
        paper_steps, paper_restarts = paper.scale(attack)
        assert restarts == paper_restarts == attack.config.restarts
        assert steps * restarts * 5 == paper_steps * paper_restarts  # 1500 -> 300, 600 -> 120, 100 -> 20
    assert fast.scale(PRESETS["gmi"]) == (300, 5)
    assert fast.scale(PRESETS["gmi"], steps=7, restarts=2) == (7, 2)
    with pytest.raises(InputError) as bad:
        get_budget("huge")
    assert "fast" in str(bad.value.fix)


def test_lomma_surrogates_learn_the_target_and_are_cached(tmp_path) -> None:
    generator = tiny_nets()[0]
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, CLASSES))
    with torch.no_grad():  # decisions that vary across the GAN's images, or any surrogate would agree
        centre = generator(torch.randn(512, LATENT).clamp(-1, 1)).flatten(1).mean(0)
        classifier[1].weight.mul_(30.0)
        classifier[1].bias.copy_(-(classifier[1].weight @ centre))
    attack = replace(get_attack("lomma-aug"), distill_images=512, distill_epochs=15)
    ensemble = attack.prepare(classifier, generator, LATENT, caches=CacheFolder(tmp_path), seed=1)
    assert ensemble.members[0] is classifier and len(ensemble.members) == 4
    with torch.no_grad():
        probe = generator(torch.randn(256, LATENT, generator=torch.Generator().manual_seed(9)).clamp(-1, 1))
        truth = classifier(probe).argmax(1)
        agree = [float((m(probe).argmax(1) == truth).float().mean()) for m in ensemble.members[1:]]
        untrained = float((SmallNet(CLASSES, 16).eval()(probe).argmax(1) == truth).float().mean())
    assert len(set(truth.tolist())) >= 3
    assert min(agree) > max(0.6, untrained + 0.2), (agree, untrained)
    cached = list(tmp_path.glob("lomma_surrogates_*.safetensors"))
    assert len(cached) == 1
    again = attack.prepare(classifier, generator, LATENT, caches=CacheFolder(tmp_path), seed=1)
    with torch.no_grad():
        torch.testing.assert_close(again(probe), ensemble(probe))
    replace(attack, distill_epochs=1).prepare(classifier, generator, LATENT, caches=CacheFolder(tmp_path), seed=1)
    assert len(list(tmp_path.glob("lomma_surrogates_*.safetensors"))) == 2  # the budget is part of the cache key
    replace(attack, distill_epochs=1).prepare(classifier, tiny_nets(seed=2)[0], LATENT, caches=CacheFolder(tmp_path), seed=1)
    assert len(list(tmp_path.glob("lomma_surrogates_*.safetensors"))) == 3  # so is the GAN the samples came from


def _decisive_classifier(generator: nn.Module, seed: int = 0) -> nn.Module:
    """A linear classifier whose decisions vary across the GAN's images (so pseudo-labels differ)."""
    torch.manual_seed(seed)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, CLASSES))
    with torch.no_grad():
        centre = generator(torch.randn(512, LATENT).clamp(-1, 1)).flatten(1).mean(0)
        classifier[1].weight.mul_(30.0)
        classifier[1].bias.copy_(-(classifier[1].weight @ centre))
    return classifier


def test_plg_conditional_generator_knows_the_target_and_leaves_the_gan_alone() -> None:
    generator = tiny_nets()[0]
    classifier = _decisive_classifier(generator)
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    attack = replace(get_attack("plg-gan"), pool_images=512, top_k=16, train_steps=60)
    prepared = attack.prepare(classifier, generator, LATENT, seed=1)
    for k, v in generator.state_dict().items():
        assert torch.equal(v, before[k]), k
    z = torch.randn(200, LATENT, generator=torch.Generator().manual_seed(9)).clamp(-1, 1)
    y = torch.arange(CLASSES).repeat(40)
    with torch.no_grad():
        conditional = classifier(prepared.generator(z, y)).softmax(1).gather(1, y[:, None]).mean()
        plain = classifier(generator(z)).softmax(1).gather(1, y[:, None]).mean()
    assert float(conditional) > float(plain) + 0.2, (float(conditional), float(plain))
    assert prepared.target is classifier and prepared.generator.conditional


def test_plg_generator_is_cached_per_target_and_reused(tmp_path) -> None:
    generator = tiny_nets()[0]
    classifier = _decisive_classifier(generator)
    attack = replace(get_attack("plg-gan"), pool_images=256, top_k=8, train_steps=10)
    first = attack.prepare(classifier, generator, LATENT, caches=CacheFolder(tmp_path), seed=1)
    [cached] = list(tmp_path.glob("plg_generator_*.safetensors"))
    stamp = cached.stat().st_mtime_ns
    again = attack.prepare(classifier, generator, LATENT, caches=CacheFolder(tmp_path), seed=1)
    assert cached.stat().st_mtime_ns == stamp  # not trained again: a new generator is written atomically (new file)
    z, y = torch.rand(6, LATENT), torch.arange(6) % CLASSES
    with torch.no_grad():
        torch.testing.assert_close(again.generator(z, y), first.generator(z, y))
    other = _decisive_classifier(generator, seed=3)  # another target's weights: trained anew, its own file
    attack.prepare(other, generator, LATENT, caches=CacheFolder(tmp_path), seed=1)
    attack.prepare(classifier, generator, LATENT, caches=CacheFolder(tmp_path), budget_fraction=0.5, seed=1)
    assert len(list(tmp_path.glob("plg_generator_*.safetensors"))) == 3  # the budget is part of the key too
    assert cached.stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically: no temporary left behind


class BrighterThan(nn.Module):
    """A public classifier sure of class 0 on images brighter than `level`, unsure (under 1/2) of any other."""

    def __init__(self, level: float) -> None:
        super().__init__()
        self.level = level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = (x.mean((1, 2, 3)) - self.level) * 1e4
        return torch.stack([lead, torch.zeros_like(lead), torch.zeros_like(lead)], 1)


def test_decoy_aware_first_stage_leaves_the_lures_out(tmp_path) -> None:
    """plg-gan-adaptive's pseudo-labels hold no image the public classifier is over LURE_CONFIDENCE sure of, where
    plg-gan's hold some; its generator is cached apart from plg-gan's, and it needs the public classifier."""
    from hardener.attacks.adaptive_decoy import LURE_CONFIDENCE
    from hardener.attacks.plg_gan import pseudo_labels

    generator, _, classifier = tiny_nets()
    _, images, plain = pseudo_labels(classifier, generator, LATENT, 256, 8, 1, "cpu")
    public = BrighterThan(float(images.mean((1, 2, 3)).median()))  # sure of the brighter half of the pool
    _, _, aware = pseudo_labels(classifier, generator, LATENT, 256, 8, 1, "cpu", lures=public)
    with torch.no_grad():
        lured = public(images).softmax(1).max(1).values > LURE_CONFIDENCE
    assert 100 <= int(lured.sum()) <= 156, int(lured.sum())
    assert bool(lured[plain.reshape(-1)].any()) and not bool(lured[aware.reshape(-1)].any())
    small = dict(pool_images=256, top_k=8, train_steps=5)
    adaptive, plg = (replace(get_attack(name), **small) for name in ("plg-gan-adaptive", "plg-gan"))
    with pytest.raises(InputError, match="public classifier"):
        adaptive.prepare(classifier, generator, LATENT, seed=1)
    for attack in (adaptive, plg):
        attack.prepare(classifier, generator, LATENT, caches=CacheFolder(tmp_path), seed=1, public_classifier=public)
    assert len(list(tmp_path.glob("plg_generator_*.safetensors"))) == 2


def test_preset_groups_expand_once_and_remember_what_was_named() -> None:
    strong = [a.name for a, _ in expand_presets(["strong"])]
    assert {"gmi", "plg-margin", "lomma-logit", "ppa", "adaptive-decoy", "adaptive-trapdoor", "lomma-aug",
            "plg-gan", "plg-gan-adaptive"} == set(strong)
    assert "patent" not in strong
    assert [a.name for a, _ in expand_presets(["all"])] == list(PRESETS)
    chosen = dict((a.name, explicit) for a, explicit in expand_presets(["adaptive-decoy", "strong"]))
    assert chosen["adaptive-decoy"] is True and chosen["gmi"] is False and len(chosen) == 9
    with pytest.raises(InputError, match="unknown attack preset"):
        expand_presets(["strong", "nope"])


class CountingClassifier(nn.Module):
    """Wraps a classifier and records the batch size of every forward pass."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.batches: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(len(x))
        return self.inner(x)


def test_latent_steps_count_init_candidates_and_every_step() -> None:
    generator, critic, classifier = tiny_nets()
    counting = CountingClassifier(classifier)
    plain = invert(generator, critic, counting, [0, 1], latent_dim=LATENT,
                   config=InversionConfig(steps=3, lr=0.01, restarts=2))
    assert plain.latent_steps == 4 * 3 and counting.batches == [4, 4, 4, 4]  # 3 steps, then the final scoring
    counting.batches.clear()
    best_of = invert(generator, critic, counting, [0, 1], latent_dim=LATENT,
                     config=InversionConfig(steps=3, lr=0.01, restarts=2, init_candidates=4))
    assert counting.batches == [16, 4, 4, 4, 4]
    assert best_of.latent_steps == 4 * 4 + 4 * 3


def test_stopped_rows_leave_the_batch_and_stop_counting() -> None:
    """Rows the target is already sure of stop at the first check and are not computed (nor counted) after it;
    the other rows follow the same path as in a run without early stopping."""
    generator, critic, classifier = tiny_nets()
    classes, restarts, steps = [0, 1, 2, 3, 4], 2, 6
    start = invert(generator, critic, classifier, classes, latent_dim=LATENT,
                   config=InversionConfig(steps=1, lr=0.0, restarts=restarts, z_clamp=None)).confidence
    ordered = start.sort().values  # a threshold in the widest gap between initial confidences
    gap = int((ordered[1:] - ordered[:-1]).argmax())
    threshold = float(ordered[gap] + ordered[gap + 1]) / 2
    sure = start >= threshold
    assert 0 < int(sure.sum()) < len(start)
    config = InversionConfig(steps=steps, lr=1e-3, optimizer="adam", restarts=restarts, z_clamp=None, check_every=1)
    counting = CountingClassifier(classifier)
    stopped = invert(generator, critic, counting, classes, latent_dim=LATENT,
                     config=replace(config, stop_confidence=threshold))
    free = invert(generator, critic, classifier, classes, latent_dim=LATENT, config=config)
    unsure = int((~sure).sum())
    assert counting.batches[:-1] == [len(start)] + [unsure] * (steps - 1)
    assert stopped.latent_steps == len(start) + unsure * (steps - 1)
    assert bool((free.confidence[~sure] < threshold).all())  # nobody else crossed it, so only `sure` stopped
    torch.testing.assert_close(stopped.z[~sure], free.z[~sure], rtol=1e-4, atol=1e-5)
    assert torch.equal(stopped.z[sure], row_latents(classes, restarts, LATENT, seed=0)[:, 0][sure])


def test_early_stop_counts_what_ran() -> None:
    generator, critic, classifier = tiny_nets()
    config = InversionConfig(steps=12, lr=0.0, restarts=2, stop_confidence=0.0, check_every=5)
    result = invert(generator, critic, classifier, [0, 1], latent_dim=LATENT, config=config)
    assert result.steps_run == 1 and result.latent_steps == 4  # every row is done at the first check (step 0)
    highest = float(result.confidence.max())
    assert highest < 1.0
    never = invert(generator, critic, classifier, [0, 1], latent_dim=LATENT,
                   config=replace(config, stop_confidence=(highest + 1.0) / 2))  # nothing moves, nobody gets there
    assert never.steps_run == 12 and never.latent_steps == 4 * 12


def test_cosine_schedule_decays_the_step() -> None:
    generator, critic, classifier = tiny_nets()
    config = InversionConfig(steps=1, lr=0.05, optimizer="adam", restarts=2, z_clamp=None)
    first = invert(generator, critic, classifier, [1, 3], config=config, latent_dim=LATENT)
    assert torch.equal(first.z, invert(generator, critic, classifier, [1, 3], latent_dim=LATENT,
                                       config=replace(config, schedule="cosine")).z)  # step 1 runs at the full lr
    longer = replace(config, steps=20)
    constant = invert(generator, critic, classifier, [1, 3], config=longer, latent_dim=LATENT)
    cosine = invert(generator, critic, classifier, [1, 3], config=replace(longer, schedule="cosine"), latent_dim=LATENT)
    start = row_latents([1, 3], 2, LATENT, seed=0)[:, 0]
    assert float((cosine.z - start).norm()) < float((constant.z - start).norm())


@pytest.mark.parametrize("change, phrase", [
    ({"schedule": "linear"}, "learning-rate schedule"),
    ({"check_every": 0}, "check_every"),
    ({"stop_confidence": 1.5}, "not a probability"),
])
def test_bad_engine_knobs_are_input_errors(change: dict, phrase: str) -> None:
    with pytest.raises(InputError, match=phrase):
        InversionConfig(**change).validate()
