"""protect on the synthetic MI world: the defense, its pieces, bad inputs, resume (verify: test_verify_gate.py)."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cli_helpers import assert_bad_input

from hardener.attacks.engine import invert, with_overrides
from hardener.attacks.presets import get_attack
from hardener.checkpoint import Checkpoint
from hardener.cli.app import app
from hardener.data import load_dataset, to_model_input
from hardener.defenses.decoy import DecoyConfig, bounded_push_away, feature_drift, photo_logit_caps, protect_decoy
from hardener.defenses.ewc import EWCPenalty
from hardener.defenses.slopes import DecoySlopes
from hardener.defenses.strangers import STRANGERS, named_shares, stranger_faces
from hardener.gan import load_gan
from hardener.registry import build_model
from hardener.loading import load_model
from hardener.evaluate import accuracy, features
from hardener.progress import no_progress

runner = CliRunner()
from conftest import attack_top1, protect_args


@pytest.mark.slow  # the hardened-model fixture: protect's default run, ~30 s once per run
def test_protect_lowers_attack_accuracy_under_its_own_and_another_attack(mi_world: dict, protected: Path) -> None:
    """Attacks protect never ran, with seeds it never used. (The patent's own 100-step inversion barely
    succeeds even against the undefended model here, 0-25 %, so it cannot show a drop; see README.)
    The bars hold at every protect seed measured, not only the fixture's: `python benchmarks/fixture.py
    --seeds 0 1 2 3` (one thread, session 15) gave gmi 50 % -> 0-12.5 %, plg-margin 62.5 % -> 0-25 %,
    held-out accuracy 89.6 % -> 68.8-72.9 %, the protected classes' 91.7 % -> 50-75 % (12 photos). The
    world's floats differ by machine and thread count, so one machine's seed-0 figures promise nothing on
    another; the seeds stand in for that spread. The default costs this 8-identity world 17-21 points (LFW:
    README); the bars catch a defense that costs a quarter, or most of the protected people's photos."""
    baseline = load_model(mi_world["target"]).model
    hardened = load_model(protected / "hardened.safetensors").model
    for preset, steps, seed, least_drop in (("gmi", 200, 777, 0.125), ("plg-margin", 100, 4242, 0.0)):
        before, after = attack_top1(mi_world, baseline, preset, steps, seed), attack_top1(mi_world, hardened, preset, steps, seed)
        assert before - after >= least_drop, (preset, before, after)
    test = load_dataset(mi_world["test"])
    x, y = to_model_input(test.images, 32), torch.from_numpy(test.labels)
    kept = accuracy(hardened, x, y, classes=[1, 4])
    assert kept >= 0.4, f"the protected people must stay recognisable on real photos ({kept:.0%})"
    assert accuracy(hardened, x, y) >= accuracy(baseline, x, y) - 0.25


@pytest.mark.slow  # the hardened-model fixture
def test_protect_outputs_report_grid_and_onnx(mi_world: dict, protected: Path) -> None:
    report = json.loads((protected / "report.json").read_text())
    decoys = [p["decoy"] for p in report["protected"]]  # chosen by protect: the fixture names none
    assert len(set(decoys)) == 2 and all(re.fullmatch(r"\d \(synthetic_010\d\)", d) for d in decoys), decoys
    ranked = report["decoy_candidates"]  # each class's ranking, best first: the chosen decoys lead them, distinct
    assert ranked["1"][0] == report["decoys"]["1"] and report["decoys"]["4"] == next(d for d in ranked["4"]
                                                                                 if d != report["decoys"]["1"])
    assert sorted(ranked["1"]) == sorted(ranked["4"]) and len(ranked["1"]) >= 2
    assert 1 <= len(report["rounds"]) <= 3 and "decoy_hit_rate" in report["rounds"][0]
    assert report["hardened"]["onnx_parity"]["batches"][1]["relative"] <= 1e-4
    assert (protected / "grid.png").exists() and (protected / "report.md").read_text().startswith("# hardener protect")
    assert any("assumed" in w for w in report["warnings"])
    assert report["config"]["leak_caps"] == 0  # no --pretrained: no leak caps unless asked
    assert (report["config"]["decoy_choice"], report["config"]["retain_protected"]) == ("farthest", 1.0)  # nor these
    uncaptured = {re.search(r"capture class (\d)", w).group(1) for w in report["warnings"] if "did not capture" in w}
    assert uncaptured == {c for c, rate in report["rounds"][-1]["decoy_hit_rate"].items() if rate < 0.5}
    named, gan = report["strangers_named"], load_gan(mi_world["gan"])  # the same faces, scored again here
    faces = stranger_faces(gan.generator, gan.latent_dim)
    for stage, model in (("before", load_model(mi_world["target"]).model),
                         ("after", load_model(protected / "hardened.safetensors").model)):
        assert named[stage] == {str(c): share for c, share in named_shares(model, faces, [1, 4]).items()}, stage
    assert named["faces"] == STRANGERS == len(faces) and "Strangers named" in (protected / "report.md").read_text()


def test_named_shares_count_each_classs_top1_among_the_faces() -> None:
    class ByFirstPixel(torch.nn.Module):  # names each face by its first pixel's value, mod 4
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.one_hot((x[:, 0, 0, 0] % 4).long(), 5).float()

    faces = torch.arange(8.0).view(8, 1, 1, 1).expand(8, 3, 2, 2)
    assert named_shares(ByFirstPixel(), faces, [0, 3, 4], batch=3) == {0: 0.25, 3: 0.25, 4: 0.0}


def test_protect_warns_of_each_class_its_decoys_did_not_capture() -> None:
    from hardener.jobs.protect import uncaptured_warnings

    rounds = [{"decoy_hit_rate": {6: 0.1, 27: 0.9}}, {"decoy_hit_rate": {6: 0.75, 27: 0.21}}]  # the last round counts
    (warning,) = uncaptured_warnings(rounds, 0.5, [f"person_{i}" for i in range(30)])
    assert warning.startswith("the decoys did not capture class 27 (person_27): 21% of protect's last")
    assert "--extra-decoys 2 (README" in warning and uncaptured_warnings(rounds, 0.2, None) == []
    (tried,) = uncaptured_warnings(rounds, 0.5, None, extra_decoys=2, added={"27": [40, 16]})
    assert tried.startswith("the decoys did not capture class 27: 21%")
    assert "its extra decoys 40, 16 did not capture it either" in tried
    (untried,) = uncaptured_warnings(rounds, 0.5, None, extra_decoys=2, added={6: [40]})  # another class got one
    assert "--extra-decoys 2 added it none" in untried and "extra decoy" not in untried.split("(")[-1]
    (one,) = uncaptured_warnings(rounds, 0.5, None, extra_decoys=1, added={27: [49]})
    assert one.endswith("(its extra decoy 49 did not capture it either)")
    assert uncaptured_warnings([], 0.5, None) == []


def test_ewc_is_zero_at_the_anchor_and_grows_with_distance() -> None:
    model = torch.nn.Linear(4, 3)
    fisher = {n: torch.ones_like(p) for n, p in model.named_parameters()}
    ewc = EWCPenalty(model, fisher, lambda2=2.0)
    assert float(ewc.penalty(model).detach()) == 0.0
    values = []
    for step in (0.1, 0.2, 0.4):
        with torch.no_grad():
            for p, anchor in zip(model.parameters(), ewc.anchor.values()):
                p.copy_(anchor + step)
        values.append(float(ewc.penalty(model).detach()))
    assert values[0] < values[1] < values[2]
    assert values[0] == pytest.approx(2.0 / 2 * 15 * 0.1 ** 2, rel=1e-5)  # 15 parameters, F = 1


def test_bounded_term_stays_finite_however_far_it_is_pushed() -> None:
    logits = torch.zeros(4, 5, requires_grad=True)
    target = torch.tensor([0, 1, 2, 3])
    optimizer = torch.optim.SGD([logits], lr=10.0)
    for _ in range(500):  # the patent's -CE would run to -inf here
        loss = bounded_push_away(logits, target).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss) and loss >= 0
    assert float(loss.detach()) < 1e-3
    confident = torch.tensor([[50.0, 0, 0, 0, 0]])
    assert torch.isfinite(bounded_push_away(confident, torch.tensor([0])))


def test_interrupted_protect_resumes_to_the_same_weights(mi_world: dict, tmp_path: Path) -> None:
    """Round 1, then --resume to 2 rounds == 2 rounds at once, bit for bit; the resumed run does not fine-tune
    round 1 again (a resume that silently started over would, and would still end with the same weights)."""
    target, gan, data = load_model(mi_world["target"]).model, load_gan(mi_world["gan"]), load_dataset(mi_world["train"])
    config = DecoyConfig(rounds=2, steps_per_round=3, samples_per_class=2, inversion_steps=4, fisher_samples=16,
                         decoy_hit_target=2.0)  # never reached: both runs do both rounds

    def run(rounds: int, folder: Path, resume: bool, events: list | None = None):
        return protect_decoy(target, gan.generator, gan.critic, gan.classifier, [1, 4], [5, 2],
                             latent_dim=gan.latent_dim, data=data, config=replace(config, rounds=rounds),
                             checkpoint=Checkpoint(folder / "protect_checkpoint.pt", resume),
                             progress=(lambda e: events.append(e.task)) if events is not None else no_progress)

    whole = run(2, tmp_path / "whole", False)
    run(1, tmp_path / "split", False)
    events: list[str] = []
    resumed = run(2, tmp_path / "split", True, events)
    assert "fine-tune (round 1)" not in events and "fine-tune (round 2)" in events
    assert [r["round"] for r in resumed.rounds] == [1, 2]
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_retain_augment_shows_the_retain_terms_flipped_and_shifted_photos(mi_world: dict) -> None:
    """flip_and_shift moves each image by one shift (at most 1/16 of a side) and flips about half of them; with
    retain_augment protect's fine-tuning ends elsewhere than without (the option reaches the loop), and the same."""
    from hardener.train import flip_and_shift

    x = torch.rand(64, 3, 32, 32)
    moved = flip_and_shift(x, torch.Generator().manual_seed(3))
    shifts = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
              if all(torch.equal(m, torch.roll(o, (dy, dx), (1, 2)))
                     or torch.equal(m, torch.roll(o.flip(2), (dy, dx), (1, 2))) for m, o in zip(moved, x))]
    assert len(shifts) == 1
    flipped = sum(not torch.equal(m, torch.roll(o, shifts[0], (1, 2))) for m, o in zip(moved, x))
    assert 16 <= flipped <= 48
    _assert_the_option_reaches_the_fine_tuning(mi_world, retain_augment=True)


def _assert_the_option_reaches_the_fine_tuning(mi_world: dict, **change) -> None:
    """One short round of protect on classes 1 and 4 with `change` ends with other weights than without it, and
    with the same weights twice."""
    target, gan, data = load_model(mi_world["target"]).model, load_gan(mi_world["gan"]), load_dataset(mi_world["train"])
    config = DecoyConfig(rounds=1, steps_per_round=3, samples_per_class=2, inversion_steps=4, fisher_samples=16)

    def weights(config: DecoyConfig) -> list[torch.Tensor]:
        result = protect_decoy(target, gan.generator, gan.critic, gan.classifier, [1, 4], [5, 2],
                               latent_dim=gan.latent_dim, data=data, config=config)
        return [t.clone() for t in result.model.state_dict().values()]

    plain, changed, again = weights(config), weights(replace(config, **change)), weights(replace(config, **change))
    assert any(not torch.equal(a, b) for a, b in zip(plain, changed))
    assert all(torch.equal(a, b) for a, b in zip(changed, again))


def test_retain_protected_weighs_the_protected_peoples_photos(mi_world: dict) -> None:
    """The weights: W for the protected classes' photos, 1 for the rest; weighted distillation with weights of 1
    is the plain one and scales with them; with retain_protected protect's fine-tuning ends elsewhere than without
    (the weights reach the loop), and the same twice."""
    from hardener.defenses.decoy import distillation, protected_photo_weights

    weights = protected_photo_weights(torch.tensor([0, 1, 4, 2, 4]), [1, 4], 3.0)
    assert weights.tolist() == [1.0, 3.0, 3.0, 1.0, 3.0]
    student, teacher = torch.randn(5, 8, generator=torch.Generator().manual_seed(0)), torch.randn(5, 8)
    plain = distillation(student, teacher)
    assert torch.allclose(distillation(student, teacher, weights=torch.ones(5)), plain)
    assert torch.allclose(distillation(student, teacher, weights=torch.full((5,), 2.0)), 2 * plain)
    _assert_the_option_reaches_the_fine_tuning(mi_world, retain_protected=4.0)


def test_extra_decoys_go_to_uncaptured_classes_and_a_resume_makes_the_same_model(mi_world: dict,
                                                                                   tmp_path: Path) -> None:
    """With a hit target no class reaches, each class gets one extra decoy before round 2 (distinct, none of the
    given ones) and no more (the cap); 2 rounds, then --resume to 3 == 3 at once, bit for bit, which needs the
    resumed run to rebuild the extra decoys' samples for round 3."""
    target, gan, data = load_model(mi_world["target"]).model, load_gan(mi_world["gan"]), load_dataset(mi_world["train"])
    config = DecoyConfig(rounds=3, steps_per_round=3, samples_per_class=2, inversion_steps=4, fisher_samples=16,
                         decoy_hit_target=2.0, extra_decoys=1, manifold=0)

    def run(rounds: int, folder: Path, resume: bool):
        return protect_decoy(target, gan.generator, gan.critic, gan.classifier, [1, 4], [5, 2],
                             latent_dim=gan.latent_dim, data=data, config=replace(config, rounds=rounds),
                             checkpoint=Checkpoint(folder / "protect_checkpoint.pt", resume))

    whole = run(3, tmp_path / "whole", False)
    added = whole.rounds[1]["decoys_added"]
    assert set(added) == {1, 4} and len(set(added.values())) == 2 and not set(added.values()) & {5, 2}
    assert "decoys_added" not in whole.rounds[0] and "decoys_added" not in whole.rounds[2]
    assert whole.all_decoys() == {1: [5, added[1]], 4: [2, added[4]]}
    run(2, tmp_path / "split", False)
    resumed = run(3, tmp_path / "split", True)
    assert resumed.extra_decoys == whole.extra_decoys
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_hit_on_any_of_a_class_decoys_counts_and_reports_name_them_all() -> None:
    from types import SimpleNamespace

    from hardener.defenses.decoy import decoy_hits
    from hardener.jobs.suite import report_decoys

    class Names(torch.nn.Module):  # names each image by its first pixel
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.one_hot(x[:, 0].long(), 10).float()

    named = torch.tensor([5., 7., 3., 5., 9., 9.])
    inversion = SimpleNamespace(images=torch.stack([named, named], 1), targets=torch.tensor([1, 1, 1, 4, 4, 4]))
    assert decoy_hits(inversion, Names(), {1: [5, 7], 4: 9}, "cpu") == pytest.approx({1: 2 / 3, 4: 2 / 3})
    assert decoy_hits(inversion, Names(), {1: 5, 4: [5]}, "cpu") == pytest.approx({1: 1 / 3, 4: 1 / 3})
    report = {"decoys": {"1": 5, "4": 9}, "extra_decoys": {"1": [7]}}
    assert report_decoys(report) == {1: [5, 7], 4: [9]} and report_decoys(None) == {}


def test_protect_resume_refuses_other_options_or_no_checkpoint(mi_world: dict, tmp_path: Path) -> None:
    out = tmp_path / "p"
    args = protect_args(mi_world, out, "--rounds", "1", "--steps-per-round", "2", "--inversion-steps", "4",
                        "--samples", "2")
    once = runner.invoke(app, [a for a in args if a != "--json"])  # the lines a person reads
    assert once.exit_code == 0, once.output
    named = json.loads((out / "report.json").read_text())["strangers_named"]
    assert (f"named as a protected person: {sum(named['before'].values()):.0%} before, "
            f"{sum(named['after'].values()):.0%} after") in " ".join(once.output.split())
    other = runner.invoke(app, ["protect", str(mi_world["target"]), "--gan", str(mi_world["gan"]), "--protect", "2",
                                "--decoy", "5", "--rounds", "3", "--steps-per-round", "2", "--inversion-steps", "4",
                                "--samples", "2", "--out", str(out), "--resume"])
    assert_bad_input(other, "other options or inputs")
    same = ["--rounds", "3", "--steps-per-round", "2", "--inversion-steps", "4", "--samples", "2", "--resume"]
    other_model = protect_args({**mi_world, "target": mi_world["eval"]}, out, *same)  # same architecture and classes
    assert_bad_input(runner.invoke(app, other_model), "other options or inputs")
    other_data = protect_args({**mi_world, "train": mi_world["test"]}, out, *same)
    assert_bad_input(runner.invoke(app, other_data), "other options or inputs")
    assert_bad_input(runner.invoke(app, protect_args(mi_world, tmp_path / "new", "--resume")), "no checkpoint")
    assert not (tmp_path / "new").exists()  # refused before --out was made


def test_alpha_defaults_to_the_recipes_own_and_an_explicit_value_wins() -> None:
    assert DecoyConfig().private_weight() == 0.0  # margin: the decoys alone
    assert DecoyConfig(recipe="patent").private_weight() == 1.0  # the patent's alpha
    assert DecoyConfig(alpha=0.5).private_weight() == 0.5
    assert DecoyConfig(recipe="patent", alpha=0).private_weight() == 0
    with pytest.raises(Exception, match="must not be negative"):
        DecoyConfig(alpha=-1).validate()


def test_leak_caps_default_to_two_on_a_margin_stack_only_and_an_explicit_value_wins() -> None:
    assert DecoyConfig().leak_cap_weight() == 0 and DecoyConfig().leak_cap_weight(stacked=True) == 2
    assert DecoyConfig(recipe="patent").leak_cap_weight(stacked=True) == 0  # the patent's recipe as it states it
    assert DecoyConfig(leak_caps=0).leak_cap_weight(stacked=True) == 0
    assert DecoyConfig(leak_caps=1.5).leak_cap_weight() == 1.5


def test_a_margin_stack_defaults_to_common_decoys_and_the_protected_photos_weighed_four_times() -> None:
    plain, stack = DecoyConfig().resolved(), DecoyConfig().resolved(stacked=True)
    assert (plain.decoy_choice, plain.retain_protected, plain.leak_caps) == ("farthest", 1.0, 0)
    assert (stack.decoy_choice, stack.retain_protected, stack.leak_caps) == ("common", 4.0, 2)
    patent = DecoyConfig(recipe="patent").resolved(stacked=True)  # the patent's recipe as it states it
    assert (patent.decoy_choice, patent.retain_protected, patent.leak_caps) == ("farthest", 1.0, 0)
    given = DecoyConfig(decoy_choice="nearest", retain_protected=1.0).resolved(stacked=True)
    assert (given.decoy_choice, given.retain_protected) == ("nearest", 1.0)
    assert stack.resolved() == stack  # protect_decoy resolves again: a stack's values stay


def small_protect(target, gan, data, *, steps: int, **changes) -> torch.nn.Module:
    """One round of `steps` on the tests' world (classes 1 and 4, decoys 5 and 2, small samples): the hardened
    model of the term-by-term checks below, each run with its term on and off."""
    config = DecoyConfig(rounds=1, steps_per_round=steps, samples_per_class=2, inversion_steps=4, fisher_samples=16,
                         **{"manifold_samples": 128, **changes})
    return protect_decoy(target, gan.generator, gan.critic, gan.classifier, [1, 4], [5, 2], latent_dim=gan.latent_dim,
                         data=data, config=config).model


def test_manifold_anchors_keep_the_logits_of_unseen_gan_images_nearer_the_original(mi_world: dict) -> None:
    """The anchors hold the logits of the classes that are not protected (1 and 4 are): on 128 GAN images that
    were not anchors, those must drift less than without the term (`benchmarks/accuracy_cost.py gan-drift`
    prints the figures). The term is a KL divergence over those columns, blind to a shift of them all by
    one constant, so the drift compared is the one it controls: each image's change minus its mean over the
    columns. Measured (session 15, one thread, protect seeds 0-2): 0.64, 0.62 and 0.51 of the drift without
    the anchors. The raw change, shift included, barely moved on this world (0.88-1.0), and 0.57-0.83 on a
    full-width ResNet-10 target: the rest of the lift reaches the held classes as a common shift."""
    target, gan, data = load_model(mi_world["target"]).model, load_gan(mi_world["gan"]), load_dataset(mi_world["train"])
    z = torch.randn(128, gan.latent_dim, generator=torch.Generator().manual_seed(123))  # not the anchors' seed
    with torch.no_grad():
        images = gan.generator.eval()(z)
        original = target.eval()(images)

    def drift(weight: float) -> float:
        hardened = small_protect(target, gan, data, steps=10, manifold=weight)
        with torch.no_grad():
            change = (hardened.eval()(images) - original)[:, [0, 2, 3, 5, 6, 7]]
        return float((change - change.mean(1, keepdim=True)).abs().mean())

    assert drift(10.0) < 0.8 * drift(0.0)


def test_anchor_caps_hold_down_the_protected_logits_on_random_gan_faces(mi_world: dict) -> None:
    """The decoys' lift raises the protected classes' logits on every face of the GAN (the demo: up to 50 against
    the target's 11, and 45 % of random faces named as one protected class); the anchor caps hold those logits at
    the median of the class's real photos on the anchors, so on 512 faces that were not anchors the top tenth
    of the protected logits must sit lower than after the same run without them (the same run with the term
    unwired gives equal figures). Measured (session 37, one thread): 9.03 against 9.72; with 10 steps at beta 2
    the lift in this small world barely reaches the caps (5.23 against 5.41)."""
    target, gan, data = load_model(mi_world["target"]).model, load_gan(mi_world["gan"]), load_dataset(mi_world["train"])
    faces = stranger_faces(gan.generator, gan.latent_dim)

    def top_logits(weight: float) -> float:
        hardened = small_protect(target, gan, data, steps=40, anchor_caps=weight, beta=8.0)
        with torch.no_grad():
            logits = hardened.eval()(faces)[:, [1, 4]]
        return float(logits.quantile(0.9, dim=0).mean())

    capped, plain = top_logits(1.0), top_logits(0.0)
    assert capped < plain - 0.25, (capped, plain)


def test_decoy_slopes_make_the_protected_logit_rise_along_unseen_lines_to_the_decoys(mi_world: dict) -> None:
    """The slopes target the protected logit along lines from random faces to the decoys' latents; on 512 points of
    lines protect never trained on (another seed, other starts), the hardened model's logit must follow the
    position on the line more closely than after the same run without them (Pearson correlation). Measured
    (session 38, one and two threads alike): 0.216 with weight 4, 0.094 without; with weight 1, 0.168. The
    lines' own targets reach the floors at the decoy end."""
    target, gan, data = load_model(mi_world["target"]).model, load_gan(mi_world["gan"]), load_dataset(mi_world["train"])
    decoys = invert(gan.generator, gan.critic, gan.classifier, [5, 2], latent_dim=gan.latent_dim, seed=31,
                    config=with_overrides(get_attack("gmi").config, steps=20, restarts=4))
    classes = torch.where(decoys.targets == 5, 1, 4)  # decoy 5 stands for class 1, decoy 2 for class 4
    floors = {1: 12.0, 4: 12.0}
    lines = DecoySlopes.build(target, gan.generator, gan.latent_dim, decoys.z, classes, floors, floors, count=512,
                              seed=99)
    assert torch.allclose(lines.logit[lines.position > 0.999], torch.tensor(12.0), atol=0.05)

    def following(weight: float) -> float:
        hardened = small_protect(target, gan, data, steps=20, decoy_slopes=weight)
        with torch.no_grad():
            logits = hardened.eval()(lines.images).gather(1, lines.classes[:, None]).squeeze(1)
        return float(torch.corrcoef(torch.stack([logits, lines.position]))[0, 1])

    sloped, plain = following(4.0), following(0.0)
    assert sloped > plain + 0.06, (sloped, plain)


def test_photo_caps_count_only_rises_of_protected_logits_on_other_peoples_photos() -> None:
    """A rise on a protected person's own photo, a fall, and the unprotected columns cost nothing; rises on
    others' photos are averaged over the (photo, protected class) pairs that are someone else's."""
    teacher = torch.tensor([[5.0, 0.0, 0.0], [0.0, 6.0, 1.0], [0.0, 0.0, 4.0]])
    logits = torch.tensor([[9.0, 1.0, -2.0], [0.0, 9.0, 3.0], [3.0, -1.0, 4.0]])
    caps = photo_logit_caps(logits, teacher, torch.tensor([0, 1, 2]), torch.tensor([1, 2]))
    assert caps.item() == pytest.approx((1.0 + 0.0 + 2.0 + 0.0) / 4)


@pytest.fixture(scope="module")
def plain_beta8(mi_world: dict) -> torch.nn.Module:
    """small_protect at 20 steps and beta 8 without the term under test: the photo caps' and feature hold's
    baseline, made once."""
    target, gan, data = load_model(mi_world["target"]).model, load_gan(mi_world["gan"]), load_dataset(mi_world["train"])
    return small_protect(target, gan, data, steps=20, beta=8.0)


def test_photo_caps_hold_the_protected_logits_on_other_peoples_held_out_photos(mi_world: dict,
                                                                             plain_beta8: torch.nn.Module) -> None:
    """The decoys' lift raises the protected classes' logits on other people's photos below their top class, where
    the softmax distillation does not look, and on the demo that rise took held-out photos (docs/MEASUREMENTS.md,
    "Session 39"). Capped on the training photos, the rise on held-out photos protect never saw must be smaller
    than after the same run without the caps. Measured (session 40, one thread, 20 steps): 1.05 against 2.29."""
    target, gan = load_model(mi_world["target"]).model, load_gan(mi_world["gan"])
    data, test = load_dataset(mi_world["train"]), load_dataset(mi_world["test"])
    x, y = to_model_input(test.images, 32), torch.from_numpy(test.labels)
    protected = torch.tensor([1, 4])
    with torch.no_grad():
        before = target.eval()(x)

    def rise(hardened: torch.nn.Module) -> float:
        with torch.no_grad():
            return float(photo_logit_caps(hardened.eval()(x), before, y, protected))

    capped, plain = rise(small_protect(target, gan, data, steps=20, photo_caps=4.0, beta=8.0)), rise(plain_beta8)
    assert capped < 0.8 * plain, (capped, plain)


def test_feature_drift_is_the_mean_squared_change_over_the_mean_squared_size() -> None:
    teacher = torch.tensor([[3.0, 4.0], [0.0, 0.0]])  # squared sizes 25 and 0: mean 12.5
    moved = torch.tensor([[3.0, 4.0], [1.0, 0.0]])  # squared changes 0 and 1: mean 0.5
    assert feature_drift(moved, teacher).item() == pytest.approx(0.5 / 12.5)
    assert feature_drift(teacher, teacher).item() == 0.0


def test_feature_drift_over_some_rows_only_reads_those_rows() -> None:
    """--feature-hold-on others: the protected people's rows are left out of the sum and of the size; a batch with
    none of the others' photos holds nothing (not the NaN of an empty mean)."""
    teacher = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
    moved = torch.tensor([[30.0, 4.0], [2.0, 0.0], [0.0, 2.0]], requires_grad=True)  # row 0 moves far
    others = torch.tensor([False, True, True])
    assert feature_drift(moved, teacher, others).item() == pytest.approx(0.5 / 2.5)
    nothing = feature_drift(moved, teacher, torch.zeros(3, dtype=torch.bool))
    assert nothing.item() == 0.0
    nothing.backward()
    assert torch.equal(moved.grad, torch.zeros_like(moved))


def test_feature_hold_keeps_held_out_photos_features_nearer_the_original(mi_world: dict,
                                                                       plain_beta8: torch.nn.Module) -> None:
    """Held on the training photos, the features of held-out photos protect never saw must move less than after
    the same run without the term: the distillation alone holds the photos' softmax, not the features behind
    it; with the term unwired the two runs are the same model. Measured (session 41, one thread, 20 steps, the same
    runs on benchmarks/worlds.py's copy of this world): 0.36 with weight 16 against 0.62 without (0.50 at weight
    4, 0.19 at 64), held-out accuracy 66.7 % against 62.5 %."""
    target, gan = load_model(mi_world["target"]).model, load_gan(mi_world["gan"])
    data, test = load_dataset(mi_world["train"]), load_dataset(mi_world["test"])
    x = to_model_input(test.images, 32)
    before = features(target, x)
    held = feature_drift(features(small_protect(target, gan, data, steps=20, feature_hold=16.0, beta=8.0), x), before)
    plain = feature_drift(features(plain_beta8, x), before)
    assert held < 0.75 * plain, (float(held), float(plain))


def test_feature_hold_on_others_leaves_the_protected_peoples_photos_out_of_the_hold(mi_world: dict) -> None:
    """With only the protected people's photos as data, `--feature-hold-on others` holds nothing at any step (the
    term is exactly 0), while `all` holds them (the model moves, so their drift is above 0): the mask reaches the
    fine-tuning loop, not only feature_drift."""
    import numpy as np

    target, gan, data = load_model(mi_world["target"]).model, load_gan(mi_world["gan"]), load_dataset(mi_world["train"])
    theirs = np.isin(data.labels, [1, 4])
    photos = replace(data, images=data.images[theirs], labels=data.labels[theirs])
    config = DecoyConfig(rounds=1, steps_per_round=3, samples_per_class=2, inversion_steps=2, fisher_samples=8,
                         manifold=0, feature_hold=1.0)

    def hold(on: str) -> float:
        result = protect_decoy(target, gan.generator, gan.critic, gan.classifier, [1, 4], [5, 2],
                               latent_dim=gan.latent_dim, data=photos, config=replace(config, feature_hold_on=on))
        return result.rounds[0]["loss_feature_hold"]

    assert hold("others") == 0.0 < hold("all")


def test_automatic_decoys_are_the_farthest_or_nearest_distinct_public_classes_or_common_ones_first() -> None:
    """The model's features here are the images themselves: class c's inversions sit at (c, 0), so the
    distances between classes are known."""
    from types import SimpleNamespace

    from torch import nn

    from hardener.defenses.decoy import COMMON_SHARE, distinct_decoys, rank_decoys

    class Identity(nn.Linear):
        num_classes = 20

        def forward_features(self, x: torch.Tensor) -> torch.Tensor:
            return x

    def invert(model, classes, seed, restarts, task, family):
        targets = torch.tensor(classes).repeat_interleave(restarts)
        return SimpleNamespace(images=torch.stack([targets.float(), torch.zeros(len(targets))], 1), targets=targets)

    model = Identity(1, 1)
    pool = torch.randperm(20, generator=torch.Generator().manual_seed(0))[:16].tolist()  # rank_decoys' seeded pool
    far = distinct_decoys(rank_decoys(model, model, [0, 19], invert), [0, 19])
    near = distinct_decoys(rank_decoys(model, model, [0, 19], invert, nearest=True), [0, 19])
    assert far[0] == max(pool) and far[1] == min(pool)
    assert near[0] == min(pool) and len(set(near)) == 2  # distinct: 19's nearest may be taken already
    assert near[1] == (max(pool) if max(pool) != near[0] else sorted(pool)[-2])
    shares = torch.zeros(20)
    common = sorted(pool)[3:6]  # three classes in the middle of the pool: protect's GAN makes only them
    shares[common] = torch.tensor([0.5, 1.5 * COMMON_SHARE, 0.2])
    shares[max(pool)] = COMMON_SHARE / 2  # the farthest from class 0, but too rare
    ranked = rank_decoys(model, model, [0, 19], invert, shares=shares)
    assert ranked[0][:3] == common[::-1] and ranked[19][:3] == common  # common first, each farthest first
    assert ranked[0][3:] == [d for d in rank_decoys(model, model, [0], invert)[0] if d not in common]
    likeness = torch.ones(20)
    likeness[common] = torch.tensor([0.2, 0.1, 0.2])  # one least like the photos, two tied next
    ranked = rank_decoys(model, model, [0, 19], invert, likeness=likeness)
    assert ranked[0][:3] == [common[1], common[2], common[0]]  # least like first, the tie farthest first
    assert ranked[19][:3] == [common[1], common[0], common[2]]
    drawn = {seed: set(torch.randperm(20, generator=torch.Generator().manual_seed(seed))[:16].tolist())
             for seed in (0, 3)}
    assert drawn[0] != drawn[3]  # --decoy-pool-seed: another seed ranks another pool, the default seed 0's as before
    assert set(rank_decoys(model, model, [0], invert, pool_seed=3)[0]) == drawn[3]
    assert set(rank_decoys(model, model, [0], invert)[0]) == drawn[0] == set(pool)
    with pytest.raises(Exception, match="decoy choice"):
        DecoyConfig(decoy_choice="closest").validate()


def test_common_decoys_are_classes_protects_gan_makes(mi_world: dict) -> None:
    """--decoy-choice common end to end: with no --decoy, every decoy drawn is a class protect's GAN makes at least
    COMMON_SHARE of the time (on the synthetic world some public classes it makes and some it does not)."""
    from hardener.defenses.decoy import COMMON_SHARE, generated_shares

    target, gan = load_model(mi_world["target"]).model, load_gan(mi_world["gan"])
    shares = generated_shares(gan.generator, gan.latent_dim, gan.classifier, "cpu")
    config = DecoyConfig(rounds=1, steps_per_round=1, samples_per_class=2, inversion_steps=2, fisher_samples=8,
                         manifold=0, decoy_choice="common")
    result = protect_decoy(target, gan.generator, gan.critic, gan.classifier, [1, 4], latent_dim=gan.latent_dim,
                           config=config)
    assert all(float(shares[d]) >= COMMON_SHARE for d in result.decoys.values()), (result.decoys, shares)
    farthest = protect_decoy(target, gan.generator, gan.critic, gan.classifier, [1, 4], latent_dim=gan.latent_dim,
                             config=replace(config, decoy_choice="farthest"))
    assert any(float(shares[d]) < COMMON_SHARE for d in farthest.decoys.values())  # here the choice matters


def test_unlike_decoys_are_the_public_classes_the_other_peoples_photos_least_look_like(mi_world: dict) -> None:
    """--decoy-choice unlike end to end: the decoys are the candidates with the lowest mean public-classifier
    probability over the unprotected people's photos, and that mean is the one measured here by hand."""
    from hardener.defenses.decoy import decoy_pool, photo_likeness

    target, gan = load_model(mi_world["target"]).model, load_gan(mi_world["gan"])
    public, data = gan.classifier, load_dataset(mi_world["train"])
    others = data.labels >= 2  # protect 0 and 1
    by_hand = torch.softmax(public.eval()(to_model_input(data.images[others], 32)), 1).mean(0).detach()
    likeness = photo_likeness(public, data, [0, 1], "cpu")
    assert torch.allclose(likeness, by_hand, atol=1e-6) and float(likeness.max() - likeness.min()) > 0.05
    config = DecoyConfig(rounds=1, steps_per_round=1, samples_per_class=2, inversion_steps=2, fisher_samples=8,
                         manifold=0, decoy_choice="unlike")
    result = protect_decoy(target, gan.generator, gan.critic, public, [0, 1], latent_dim=gan.latent_dim, data=data,
                           config=config)
    pool = decoy_pool(list(range(public.num_classes)), public.num_classes)
    assert sorted(result.decoys.values()) == sorted(sorted(pool, key=lambda d: float(likeness[d]))[:2])
    with pytest.raises(Exception, match="needs the private photos"):
        protect_decoy(target, gan.generator, gan.critic, public, [0, 1], latent_dim=gan.latent_dim, config=config)


def test_rounds_stop_early_only_once_the_decoys_capture_and_the_accuracy_is_back() -> None:
    from hardener.defenses.decoy import STOP_ACCURACY_SLACK, captured_and_recovered

    captured, missed = {0: 0.5, 1: 0.9}, {0: 0.4, 1: 0.9}
    assert captured_and_recovered(captured, None, None, 0.5)  # without --data: the hit rate alone
    assert not captured_and_recovered(missed, None, None, 0.5)
    assert captured_and_recovered(captured, 0.99 - STOP_ACCURACY_SLACK / 2, 0.99, 0.5)
    assert not captured_and_recovered(captured, 0.866, 0.99, 0.5)  # LFW's one-round stop
    assert not captured_and_recovered(missed, 0.99, 0.99, 0.5)


def test_generated_shares_count_what_the_public_classifier_names_the_gans_samples(mi_world: dict) -> None:
    from hardener.attacks.plg_gan import gan_pool
    from hardener.defenses.decoy import generated_shares

    gan, public = load_gan(mi_world["gan"]), load_model(mi_world["public"]).model
    shares = generated_shares(gan.generator, gan.latent_dim, public, "cpu", count=64)
    assert shares.shape == (public.num_classes,) and float(shares.sum()) == pytest.approx(1.0)
    _, images = gan_pool(gan.generator, gan.latent_dim, 64, 11, "cpu")
    with torch.no_grad():
        named = public.eval()(images).argmax(1)
    assert float(shares.max()) == pytest.approx(float((named == named.mode().values).float().mean()))


@pytest.mark.parametrize("change, phrase", [
    (["--protect", "1", "--protect", "1", "--decoy", "5", "--decoy", "2"], "more than once"),
    (["--protect", "9", "--decoy", "5"], "out of range"),
    (["--protect", "1", "--decoy", "99"], "out of range"),
    (["--protect", "1", "--protect", "4", "--decoy", "5", "--decoy", "5"], "--decoy names class 5 more than once"),
    (["--protect", "1", "--decoy", "5", "--data", "EMPTY"], "no images"),
    (["--protect", "1", "--decoy", "5", "--extra-decoys", "-1"], "extra decoys 0 or more"),
    (["--protect", "1", "--decoy", "5", "--photos-per-decoy", "4"], "only happens with --decoy-photos"),
    (["--protect", "1", "--decoy", "5", "--retain-augment"], "none without --data"),
    (["--protect", "1", "--decoy", "5", "--decoy-pool-seed", "3"], "with --decoy none are unless --extra-decoys"),
    (["--protect", "1", "--decoy", "5", "--decoy-choice", "nearest"], "with --decoy none are unless --extra-decoys"),
    (["--protect", "1", "--decoy", "5", "--retain-protected", "4"], "none without --data"),
    (["--protect", "1", "--decoy", "5", "--data", "TRAIN", "--retain-protected", "-1"], "must not be negative"),
    (["--protect", "1", "--decoy", "5", "--leak-caps", "-1"], "must not be negative"),
    (["--protect", "1", "--decoy", "5", "--anchor-caps", "-1"], "must not be negative"),
    (["--protect", "1", "--decoy", "5", "--decoy-slopes", "-1"], "must not be negative"),
    (["--protect", "1", "--decoy", "5", "--decoy-floor", "top"], "unknown decoy floor"),
    (["--protect", "1", "--decoy", "5", "--decoy-floor", "photos"], "needs the real photos"),
    (["--protect", "1", "--decoy", "5", "--decoy-slopes", "1", "--recipe", "patent"], "need the margin recipe"),
    (["--protect", "1", "--decoy", "5", "--photo-caps", "1"], "needs the real photos whose logits it holds"),
    (["--protect", "1", "--decoy", "5", "--photo-caps", "-1"], "must not be negative"),
    (["--protect", "1", "--decoy", "5", "--data", "TRAIN", "--photo-caps", "1", "--recipe", "patent"],
     "need the margin recipe"),
    (["--protect", "1", "--decoy", "5", "--feature-hold", "1"], "needs the real photos whose features it holds"),
    (["--protect", "1", "--decoy", "5", "--data", "TRAIN", "--feature-hold", "-1"], "must not be negative"),
    (["--protect", "1", "--decoy", "5", "--data", "TRAIN", "--feature-hold", "1", "--recipe", "patent"],
     "need the margin recipe"),
    (["--protect", "1", "--decoy", "5", "--data", "TRAIN", "--feature-hold", "1", "--feature-hold-on", "me"],
     "unknown feature hold"),
    (["--protect", "1", "--decoy", "5", "--data", "TRAIN", "--feature-hold-on", "others"], "the hold is off"),
    (["--protect", "1", "--decoy", "5", "--recipe", "patent", "--leak-caps", "1"], "needs the margin recipe"),
    (["--protect", "1", "--decoy", "5", "--leak-seeker", "mix"], "leak caps are off"),
    (["--protect", "1", "--decoy", "5", "--leak-caps", "1", "--leak-seeker", "mix", "--leak-seeker", "blend"],
     "unknown leak seeker"),
    (["--protect", "1", "--decoy", "5", "--leak-boundary", "ensemble"], "leak caps are off"),
    (["--protect", "1", "--decoy", "5", "--leak-caps", "1", "--leak-boundary", "blend"], "unknown leak seeker"),
])
def test_bad_protect_inputs_exit_2(mi_world: dict, tmp_path: Path, change: list[str], phrase: str) -> None:
    import numpy as np

    empty = tmp_path / "empty.npz"
    np.savez(empty, images=np.zeros((0, 32, 32, 3), np.uint8), labels=np.zeros(0, np.int64))
    change = [{"EMPTY": str(empty), "TRAIN": str(mi_world["train"])}.get(c, c) for c in change]
    args = ["protect", str(mi_world["target"]), "--gan", str(mi_world["gan"]), *change, "--rounds", "1",
            "--steps-per-round", "2", "--out", str(tmp_path / "o")]
    assert_bad_input(runner.invoke(app, args), phrase)


def test_gan_that_does_not_match_the_model_exits_2(mi_world: dict, tmp_path: Path) -> None:
    from hardener.loading import save_bundle

    big = save_bundle(build_model("resnet", "resnet10", 8, 64), tmp_path / "big.safetensors")
    args = ["protect", str(big), "--gan", str(mi_world["gan"]), "--protect", "1", "--out", str(tmp_path / "o")]
    assert_bad_input(runner.invoke(app, args), "32 px")


def test_leak_seekers_keep_what_their_rules_say_and_pool_as_each_makes_them_alone(mi_world: dict) -> None:
    """--leak-seeker: `mix` asks for the on-decoy leak itself: its endpoints are named the person by the original
    model (all, as `ensemble`'s) and the decoy by the public classifier more often than the ensemble's; `plg`'s and
    `pseudo`'s are never named one of the class's decoys, and `pseudo`'s are GAN images the hardened model gives
    their class far more probability than random ones; only those two are capped below the decision boundary unless
    told otherwise (--leak-boundary); several seekers pool their endpoints as each makes them alone."""
    from hardener.attacks.plg_gan import gan_pool
    from hardener.defenses.decoy import _inverter
    from hardener.defenses.leaks import LeakSearch, leak_endpoints

    target, gan = load_model(mi_world["target"]).model.eval(), load_gan(mi_world["gan"])
    public, decoys = gan.classifier.eval(), {1: [5], 4: [2]}
    config = DecoyConfig(samples_per_class=4, inversion_steps=30, leak_caps=1.0)
    invert = _inverter(gan.generator, gan.critic, gan.latent_dim, config, "cpu", no_progress)
    search = LeakSearch(invert, target, target, gan.generator, gan.latent_dim, public, decoys, plg_budget=0.02)
    names = ("ensemble", "mix", "plg", "pseudo")
    found = {"+".join(s): leak_endpoints(search, [1, 4], s, seed=3, task="seek") for s in [[n] for n in names]}
    found["+".join(names)] = leak_endpoints(search, [1, 4], names, seed=3, task="seek", below_boundary={"ensemble"})
    on_decoy = {}
    with torch.no_grad():
        for seeker, (x, y, below) in found.items():
            named_decoy = public(x).argmax(1) == torch.tensor([decoys[int(c)][0] for c in y])
            on_decoy[seeker] = float(named_decoy.float().mean())
            if seeker in ("ensemble", "mix"):
                assert len(y) > 0 and bool((target(x).argmax(1) == y).all()), seeker
            if "+" not in seeker:
                assert bool((below == (seeker in ("plg", "pseudo"))).all()), seeker
        x, y, _ = found["pseudo"]
        surest = target(x).softmax(1).gather(1, y[:, None]).mean()
        _, random_faces = gan_pool(gan.generator, gan.latent_dim, 256, 11, "cpu")
        chance = target(random_faces).softmax(1)[:, [1, 4]].mean()
    assert on_decoy["mix"] > on_decoy["ensemble"] + 0.25, on_decoy  # measured 0.88 against 0.14
    assert len(found["plg"][1]) > 0 and on_decoy["plg"] == 0, on_decoy
    assert len(found["pseudo"][1]) > 0 and on_decoy["pseudo"] == 0, on_decoy
    assert surest > 3 * chance, (float(surest), float(chance))  # measured 0.54 against 0.06
    pooled, parts = found["+".join(names)], [found[s] for s in names]
    assert torch.allclose(pooled[0], torch.cat([p[0] for p in parts]))
    assert torch.equal(pooled[1], torch.cat([p[1] for p in parts]))
    assert torch.equal(pooled[2], torch.cat([torch.full_like(p[2], n == "ensemble") for n, p in zip(names, parts)]))


def test_boundary_caps_hold_the_margin_below_zero_where_photo_caps_let_it_stand() -> None:
    """A leak endpoint marked `below` is capped at BOUNDARY_CAP instead of the real photos' median margin: a row
    whose margin sits between the two costs something only when marked."""
    from hardener.defenses.decoy import MarginRecipe, MarginTargets
    from hardener.defenses.leaks import BOUNDARY_CAP

    recipe = MarginRecipe(MarginTargets({0: 5.0}, {0: 100.0}, {0: 9.0}, {0: 9.0}))
    logits = torch.tensor([[3.0, 0.0, 1.0]])  # margin 2: under the photo cap, above the boundary cap
    y = torch.tensor([0])
    assert float(recipe.capped(logits, y)) == 0.0
    assert float(recipe.capped(logits, y, below=torch.tensor([False]))) == 0.0
    assert float(recipe.capped(logits, y, below=torch.tensor([True]))) == pytest.approx(2.0 - BOUNDARY_CAP)


def test_leak_caps_keep_what_the_original_names_and_lower_the_hardened_margin_there(mi_world: dict,
                                                                                    tmp_path: Path) -> None:
    """--leak-caps: each round inverts the hardened and the original model together and keeps the images the
    original names the class; fine-tuning then lowers the hardened model's margin on them below what the same
    run without the term leaves (round 1's endpoints are the same in both: same seeds, same model); a resume
    makes the same model, also where endpoints are capped below the decision boundary."""
    from hardener.defenses.decoy import class_margin

    target, gan, data = load_model(mi_world["target"]).model, load_gan(mi_world["gan"]), load_dataset(mi_world["train"])
    config = DecoyConfig(rounds=2, steps_per_round=10, samples_per_class=4, inversion_steps=10, fisher_samples=16,
                         decoy_hit_target=2.0, manifold=0, leak_caps=4.0)

    def run(folder: Path, resume: bool = False, **changes):
        return protect_decoy(target, gan.generator, gan.critic, gan.classifier, [1, 4], [5, 2],
                             latent_dim=gan.latent_dim, data=data, config=replace(config, **changes),
                             checkpoint=Checkpoint(folder / "protect_checkpoint.pt", resume))

    capped, plain = run(tmp_path / "capped"), run(tmp_path / "plain", leak_caps=0.0)
    x, y = capped.leaks
    assert plain.leaks is None and "leak_endpoints" not in plain.rounds[0]
    assert "loss_leaks" in capped.rounds[0] and "loss_leaks" not in plain.rounds[0]
    for result, phases in ((capped, ["seek_leaks", "fine_tune", "re_invert"]), (plain, ["fine_tune", "re_invert"])):
        assert all(list(r["seconds"]) == phases for r in result.rounds)  # where each round's time went
        assert 0 < sum(sum(r["seconds"].values()) for r in result.rounds) <= result.seconds + 0.5
    assert len(y) == sum(r["leak_endpoints"] for r in capped.rounds) > 0
    with torch.no_grad():
        assert bool((target.eval()(x).argmax(1) == y).all())
        first = slice(0, capped.rounds[0]["leak_endpoints"])
        margins = [float(class_margin(m.model.eval()(x[first]), y[first]).mean()) for m in (capped, plain)]
    assert margins[0] < margins[1] - 1.0, margins  # measured 1.72 against 4.07 (4.62 with the term zeroed)
    run(tmp_path / "split", rounds=1)
    resumed = run(tmp_path / "split", True)
    for (name, a), b in zip(capped.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    # which endpoints are capped below the decision boundary survives a resume (pseudo's are)
    below = run(tmp_path / "below", leak_seekers=("pseudo",))
    run(tmp_path / "below-split", rounds=1, leak_seekers=("pseudo",))
    resumed = run(tmp_path / "below-split", True, leak_seekers=("pseudo",))
    for (name, a), b in zip(below.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_extra_gans_add_their_inversions_of_the_attack_family_only(mi_world: dict) -> None:
    """--extra-gan: the attack family's inversions run through protect's GAN and then each extra one (seeds
    GAN_SEED_STRIDE apart), pooled in that order; the decoys' inversions (family=False) stay on protect's GAN."""
    from hardener.defenses.decoy import GAN_SEED_STRIDE, DefenderGAN, _inverter

    target, gan = load_model(mi_world["target"]).model.eval(), load_gan(mi_world["gan"])
    config = DecoyConfig(samples_per_class=2, inversion_steps=3)
    alone = _inverter(gan.generator, gan.critic, gan.latent_dim, config, "cpu", no_progress)
    extra = DefenderGAN(gan.generator, gan.critic, gan.latent_dim)  # the same GAN again: rows comparable
    both = _inverter(gan.generator, gan.critic, gan.latent_dim, config, "cpu", no_progress, [extra])
    pooled, first, second = (both(target, [1, 4], seed=5, task="t"), alone(target, [1, 4], seed=5, task="t"),
                             alone(target, [1, 4], seed=5 + GAN_SEED_STRIDE, task="t"))
    assert torch.allclose(pooled.images, torch.cat([first.images, second.images]))
    assert len(set(pooled.restarts.tolist())) == 2 * len(set(first.restarts.tolist()))
    assert not torch.allclose(first.images, second.images)  # other seeds: other rows
    decoys_only = both(target, [1, 4], seed=5, task="t", family=False)
    assert torch.allclose(decoys_only.images, alone(target, [1, 4], seed=5, task="t", family=False).images)


def test_an_extra_gan_without_a_critic_of_another_latent_size_or_given_twice_exits_2(mi_world: dict, tmp_path: Path) -> None:
    from hardener.gan import save_gan_bundle
    from hardener.gan.models import Critic, Generator

    gan = load_gan(mi_world["gan"])
    no_critic = save_gan_bundle(tmp_path / "no_critic.safetensors", gan.generator, None)
    other = save_gan_bundle(tmp_path / "other.safetensors", Generator(32, gan.width, 64), Critic(32, gan.width))
    base = ["protect", str(mi_world["target"]), "--gan", str(mi_world["gan"]), "--protect", "1", "--decoy", "5",
            "--out", str(tmp_path / "o")]
    assert_bad_input(runner.invoke(app, [*base, "--extra-gan", str(no_critic)]), "holds no critic")
    assert_bad_input(runner.invoke(app, [*base, "--extra-gan", str(other)]), "latent size 64")
    assert_bad_input(runner.invoke(app, [*base, "--extra-gan", str(mi_world["gan"])]), "given twice")
