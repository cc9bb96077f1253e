"""verify on the synthetic MI world: the release gate over the model `protect` hardened (the shared
`protected` fixture, built once per run), the strong attack set and the adaptive attacker. The default
recipe against the patent's: test_recipes.py (white-box) and `benchmarks/efficacy.py --with-patent`.
A file of its own so that pytest-xdist runs it beside test_protect.py."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli_helpers import assert_bad_input

from hardener.attacks.adaptive_decoy import escape_rate, top_log_odds
from hardener.attacks.presets import get_attack
from hardener.audit.intervals import wilson
from hardener.cli.app import app
from hardener.gan import load_gan, save_gan_bundle
from hardener.defenses.strangers import named_any, stranger_faces
from hardener.jobs.suite import STRANGER_SEED, load_suite, strangers_check, worst_attack_note
from hardener.loading import load_model, save_bundle
from hardener.registry import build_model

runner = CliRunner()


def verify_args(world: dict, hardened: Path, out: Path, *extra: str) -> list[str]:
    return ["verify", str(hardened), "--baseline", str(world["target"]), "--data", str(world["test"]),
            "--gan", str(world["gan"]), "--eval-model", str(world["eval"]), "--protect", "1", "--protect", "4",
            "--preset", "gmi", "--steps", "20", "--restarts", "2", "--out", str(out), *extra]


@pytest.mark.slow  # the hardened-model fixture
def test_verify_gate_fails_and_passes_on_its_limits(mi_world: dict, protected: Path, tmp_path: Path) -> None:
    strict = runner.invoke(app, verify_args(mi_world, protected, tmp_path / "strict", "--max-attack-acc", "0",
                                            "--max-acc-drop", "-100"))
    assert strict.exit_code == 1, strict.output
    lenient = runner.invoke(app, verify_args(mi_world, protected, tmp_path / "lenient", "--max-attack-acc", "100",
                                             "--max-acc-drop", "100", "--max-protected-acc-drop", "100",
                                             "--max-strangers-rise", "100"))
    assert lenient.exit_code == 0, lenient.output
    report = json.loads((tmp_path / "lenient" / "report.json").read_text())
    assert report["passed"] is True and any(c["name"] == "ONNX parity" for c in report["checks"])
    strangers, gan = report["strangers_named"], load_gan(mi_world["gan"])  # re-scored: the seeded faces, both models
    faces = stranger_faces(gan.generator, gan.latent_dim, strangers["faces"], STRANGER_SEED)
    for name, path in (("baseline", mi_world["target"]), ("hardened", protected / "hardened.safetensors")):
        named = named_any(load_model(path).model, faces, [1, 4])
        assert strangers["share"][name] == pytest.approx(float(named.mean()))
    assert_bad_input(runner.invoke(app, verify_args(mi_world, protected, tmp_path / "neg", "--max-strangers-rise",
                                                    "-1")), "--max-strangers-rise")
    junit = (tmp_path / "strict" / "junit.xml").read_text()
    assert "<failure" in junit and "natural accuracy drop" in junit


def verify_report(world: dict, hardened: Path, out: Path, *extra: str) -> dict:
    args = ["verify", str(hardened), "--baseline", str(world["target"]), "--data", str(world["test"]), "--gan",
            str(world["gan"]), "--eval-model", str(world["eval"]), "--protect", "1", "--protect", "4", "--out",
            str(out), *extra]
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 1), result.output
    return json.loads((out / "report.json").read_text())


def test_verify_runs_the_strong_set_by_default_gates_on_upper_bounds_and_names_the_worst(
        mi_world: dict, tmp_path: Path) -> None:
    """Nine attacks at 5 steps: the gate's arithmetic is under test, not the attacks nor the hardening, so the
    target stands in for the hardened model too. What lomma-aug (3 surrogates) and the plg-gan presets (a generator
    each) build from a target is cached by its weights, so they build once for both sides."""
    report = verify_report(mi_world, mi_world["target"], tmp_path / "v", "--budget", "quick", "--steps", "5",
                           "--max-attack-acc", "70", "--max-acc-drop", "10", "--max-protected-acc-drop", "30")
    assert [r["preset"] for r in report["attacks"]] == ["gmi", "plg-margin", "lomma-logit", "ppa", "adaptive-decoy",
                                                        "adaptive-trapdoor", "lomma-aug", "plg-gan", "plg-gan-adaptive"]
    assert report["budget"] == "quick" and all(r["restarts"] == 1 for r in report["attacks"])
    checks = {c["name"]: c for c in report["checks"]}
    for row in report["attacks"]:
        check = checks[f"attack accuracy {row['preset']} (protected classes, top-1, 95% upper bound)"]
        n = row["hardened"]["rows"]
        high = wilson(round(row["hardened"]["top1"] * n), n).high
        assert check["value"] == round(100 * high, 2) and check["passed"] == (check["value"] <= 70)
        by_class = row["hardened"]["top1_by_class"]  # as many rows per class: their mean is top-1
        assert sorted(by_class) == ["1", "4"] and sum(by_class.values()) / 2 == pytest.approx(row["hardened"]["top1"])
        at_wall = row["hardened"]["latent_at_clamp"]  # every preset clamps its latents
        assert 0.0 <= at_wall <= 1.0 and f"latents at the box's wall {100 * at_wall:.0f}%" in check["detail"]
    for part, limit in (("all", 10), ("protected", 30)):
        check = checks[f"natural accuracy drop (held-out, {part} classes), 95% upper bound"]
        low, high = report["accuracy_drop"][part]["ci95_points"]
        assert low <= report["accuracy_drop"][part]["points"] <= high
        assert check["value"] == round(high, 3) and check["passed"] == (high <= limit)
    strangers = checks["random faces named as a protected person, rise, 95% upper bound"]
    shares = report["strangers_named"]["share"]  # one model on both sides: no rise, and the check holds
    assert shares["baseline"] == shares["hardened"] and strangers["value"] == 0 and strangers["passed"]
    worst = max(report["attacks"], key=lambda r: (r["hardened"]["top1_ci95"][1], r["hardened"]["top1"]))
    assert report["worst_attack"] == worst["preset"]
    summary = (tmp_path / "v" / "summary.md").read_text()
    assert "Decision rule: a check passes only when the upper end of its 95% interval" in summary
    assert f"Worst attack: {worst['preset']}" in summary
    leaks = [f"class {c} {100 * v:.1f}%" for c, v in worst["hardened"]["top1_by_class"].items() if v > 0]
    assert all(leak in summary for leak in leaks) and ("Recovered:" in summary) == bool(leaks)
    for row in report["attacks"]:  # the GAN has a public classifier: a share of each attack's reconstructions
        rate, rows = row["hardened"]["lure_escape_rate"], row["hardened"]["rows"]
        assert rate * rows == pytest.approx(round(rate * rows)), (row["preset"], rate, rows)


def test_verify_skips_the_adaptive_attack_without_a_public_classifier_unless_named(
        mi_world: dict, tmp_path: Path) -> None:
    """The choice of attacks is under test, not their strength nor the hardening: the suite that verify and
    compare attack with (load_suite) is built and checked without running an attack, with the target
    standing in for the hardened model."""
    gan = load_gan(mi_world["gan"])
    bare = save_gan_bundle(tmp_path / "bare_gan.safetensors", gan.generator, gan.critic)
    suite = load_suite(presets=("gmi", "strong"), budget="quick", steps=None, restarts=None, seed=0, gan=bare,
                       critic=None, eval_model=mi_world["eval"], data=str(mi_world["test"]),
                       target=load_model(mi_world["target"]), spec_model=load_model(mi_world["target"]),
                       protect=["1", "4"], device="cpu")
    assert [a.name for a in suite.attacks] == ["gmi", "plg-margin", "lomma-logit", "ppa", "adaptive-trapdoor",
                                               "lomma-aug", "plg-gan"]
    assert suite.skipped == [{"preset": name, "reason": "the GAN bundle has no public classifier"}
                             for name in ("adaptive-decoy", "plg-gan-adaptive")]
    assert any("adaptive-decoy skipped" in w for w in suite.warnings)
    named = runner.invoke(app, ["verify", str(mi_world["target"]), "--baseline", str(mi_world["target"]), "--data",
                                str(mi_world["test"]), "--gan", str(bare), "--eval-model", str(mi_world["eval"]),
                                "--protect", "1", "--preset", "adaptive-decoy", "--out", str(tmp_path / "n")])
    assert_bad_input(named, "public classifier")
    assert_bad_input(runner.invoke(app, ["verify", str(mi_world["target"]), "--baseline", str(mi_world["target"]),
                                         "--data", str(mi_world["test"]), "--gan", str(mi_world["gan"]),
                                         "--eval-model", str(mi_world["eval"]), "--protect", "1", "--budget", "huge",
                                         "--out", str(tmp_path / "b")]), "unknown budget")


def test_verify_takes_the_baseline_rows_of_an_earlier_report_with_the_same_inputs(
        mi_world: dict, tmp_path: Path) -> None:
    """--baseline-report: the earlier run's baseline entries are taken as written (a marker planted in the file
    comes through), rows it lacks are attacked, and a report of other inputs, another command or the run's own
    --out is bad input. The target stands in for the hardened model; 3 steps: the bookkeeping is under test."""
    fast = ("--steps", "3", "--restarts", "1", "--max-attack-acc", "100", "--max-acc-drop", "100",
            "--max-protected-acc-drop", "100")
    first = verify_report(mi_world, mi_world["target"], tmp_path / "first", "--preset", "gmi", *fast)
    assert first["baseline_rows_from"] is None and set(first["measurement_keys"]) == {"baseline", "hardened"}
    earlier = tmp_path / "earlier.json"
    first["attacks"][0]["baseline"]["top1"] = 0.4321  # a value no 3-step attack on 2 classes x 1 restart gives
    earlier.write_text(json.dumps(first))
    second = verify_report(mi_world, mi_world["target"], tmp_path / "second", "--preset", "gmi", "--preset",
                           "plg-margin", "--baseline-report", str(earlier), *fast)
    gmi, margin = second["attacks"]
    assert gmi["baseline"] == first["attacks"][0]["baseline"] and gmi["hardened"]["top1"] != 0.4321
    assert margin["baseline"]["top1"] in (0.0, 0.5, 1.0)  # attacked: 2 reconstructions
    assert second["baseline_rows_from"] == {"report": str(earlier), "presets": ["gmi"]}
    assert "Baseline rows of gmi taken from" in (tmp_path / "second" / "summary.md").read_text()
    assert second["measurement_keys"] == first["measurement_keys"]

    def bad(report: Path, *extra: str):
        return runner.invoke(app, ["verify", str(mi_world["target"]), "--baseline", str(mi_world["target"]), "--data",
                                   str(mi_world["test"]), "--gan", str(mi_world["gan"]), "--eval-model",
                                   str(mi_world["eval"]), "--preset", "gmi", *fast, "--baseline-report", str(report),
                                   *extra])
    other = ["--protect", "1", "--out", str(tmp_path / "other")]
    assert_bad_input(bad(earlier, *other), "with other inputs", "--baseline-report")
    assert_bad_input(bad(earlier, "--protect", "1", "--protect", "4", "--budget", "quick", "--out",
                         str(tmp_path / "quick")), "with other inputs")
    protect_like = tmp_path / "protect.json"
    protect_like.write_text(json.dumps({"command": "protect"}))
    assert_bad_input(bad(protect_like, *other), "not a report of `hardener verify`")
    assert_bad_input(bad(tmp_path / "missing.json", *other), "cannot be read")
    assert_bad_input(bad(tmp_path / "second" / "report.json", "--protect", "1", "--protect", "4", "--out",
                         str(tmp_path / "second")), "would overwrite")


def test_an_extra_evaluation_model_judges_the_same_reconstructions_and_gates_too(
        mi_world: dict, tmp_path: Path) -> None:
    """--extra-eval-model: the extra judge's figures are the ones verify gives when it is the --eval-model (the
    same seeded reconstructions), it adds one gating check per attack, it joins the measurement key, and a judge of
    other classes or given twice is bad input. The target stands in for the hardened model; 3 steps."""
    fast = ("--preset", "gmi", "--steps", "3", "--restarts", "2", "--max-attack-acc", "100", "--max-acc-drop", "100",
            "--max-protected-acc-drop", "100", "--max-strangers-rise", "100")
    both = verify_report(mi_world, mi_world["target"], tmp_path / "both", *fast, "--extra-eval-model",
                         str(mi_world["target"]))
    alone = verify_report(mi_world, mi_world["target"], tmp_path / "alone", *fast)
    as_judge = json.loads(runner.invoke(app, [
        "verify", str(mi_world["target"]), "--baseline", str(mi_world["target"]), "--data", str(mi_world["test"]),
        "--gan", str(mi_world["gan"]), "--eval-model", str(mi_world["target"]), "--protect", "1", "--protect", "4",
        "--out", str(tmp_path / "judge"), *fast, "--json"]).stdout)
    extra = both["attacks"][0]["hardened"]["judges"][str(mi_world["target"])]
    for key in ("top1", "top5", "top1_ci95", "top1_by_class", "sure_top1", "recovered_margin", "cross_top1",
                "cross_top1_by_class"):
        assert extra[key] == as_judge["attacks"][0]["hardened"][key], key
    assert both["attacks"][0]["hardened"]["top1"] == alone["attacks"][0]["hardened"]["top1"]
    names = [c["name"] for c in both["checks"]]
    assert f"attack accuracy gmi judged by {mi_world['target']} (protected classes, top-1, 95% upper bound)" in names
    assert len(names) == len(alone["checks"]) + 1 and "judges" not in alone["attacks"][0]["hardened"]
    details = [c["detail"] for c in both["checks"] if c["name"].startswith("attack accuracy gmi")]
    assert len(details) == 2 and all("named on the other protected people's reconstructions" in d for d in details)
    assert "(the evaluation model as sure as" in details[0] and f"({mi_world['target']} as sure as" in details[1]
    assert both["measurement_keys"]["baseline"] != alone["measurement_keys"]["baseline"]
    strict = runner.invoke(app, verify_args(mi_world, mi_world["target"], tmp_path / "strict", "--extra-eval-model",
                                            str(mi_world["target"]), "--max-attack-acc", "0"))
    assert strict.exit_code == 1 and "judged by" in (tmp_path / "strict" / "junit.xml").read_text()
    other = save_bundle(build_model("resnet", "resnet10", 3, 32), tmp_path / "other.safetensors")
    assert_bad_input(runner.invoke(app, verify_args(mi_world, mi_world["target"], tmp_path / "o", "--extra-eval-model",
                                                    str(other))), "the evaluation model has 3 classes")
    assert_bad_input(runner.invoke(app, verify_args(mi_world, mi_world["target"], tmp_path / "t", "--extra-eval-model",
                                                    str(mi_world["eval"]))), "given twice")


@pytest.mark.slow
def test_adaptive_attacker_is_lured_less_than_its_own_protocol(mi_world: dict, protected: Path) -> None:
    """On the hardened model, same seed, steps and restarts (16 reconstructions of classes 1 and 4 each):
    adaptive-decoy is plg-margin plus a penalty on the public classifier's top-class log-odds, so the public
    classifier must be clearly less sure of its reconstructions than of plg-margin's, and no fewer of them may
    escape the lure. Measured with `python benchmarks/fixture.py --seeds 0 1 2 3` (one thread, session 15):
    mean log-odds 0.16-0.88 against 2.40-2.89 (plg-margin), at least 2.0 apart; escape 12.5-19 % against
    0-6.25 %. One reconstruction is 6.25 points, so escape is compared, not given a margin. gmi is not
    compared: on the previous world (ResNet-10, explicit decoys) it escaped as often as adaptive-decoy at two
    of four protect seeds."""
    gan = load_gan(mi_world["gan"])
    hardened = load_model(protected / "hardened.safetensors").model
    rates, log_odds = {}, {}
    for preset in ("plg-margin", "adaptive-decoy"):
        result = get_attack(preset).run(gan.generator, gan.critic, hardened, [1, 4], latent_dim=gan.latent_dim,
                                        seed=3, steps=150, restarts=8, public_classifier=gan.classifier)
        rates[preset] = escape_rate(result, gan.classifier)
        with torch.no_grad():
            log_odds[preset] = float(top_log_odds(gan.classifier.eval()(result.images)).mean())
    assert log_odds["adaptive-decoy"] <= log_odds["plg-margin"] - 1.0, log_odds
    assert rates["adaptive-decoy"] >= rates["plg-margin"], rates


def test_worst_attack_note_says_which_recovered_classes_were_on_their_decoy() -> None:
    """A class the evaluation model recovers although the public classifier names most of its reconstructions
    its decoy is called out: protect's own hit rates cannot see that leak."""
    entry = {"top1": 0.147, "top1_ci95": [0.084, 0.244], "top1_by_class": {"67": 0.533, "27": 0.2, "6": 0.0},
             "decoy_hit_rate": {"67": 1.0, "27": 0.27, "6": 0.5}}
    note = worst_attack_note([{"preset": "adaptive-decoy", "hardened": entry, "baseline": {"top1": 0.85}}],
                             "hardened", "standard", False)
    assert "Recovered: class 67 53.3% (on its decoy 100%), class 27 20.0% (on its decoy 27%)." in note
    assert "Recovered although on its decoy: class 67 (" in note  # not 27 (under half), not 6 (not recovered)
    undefended = {k: v for k, v in entry.items() if k != "decoy_hit_rate"}
    note = worst_attack_note([{"preset": "gmi", "hardened": undefended, "baseline": {"top1": 0.85}}], "hardened",
                             "standard", False)
    assert "Recovered: class 67 53.3%, class 27 20.0%." in note and "although" not in note
    judged = {**entry, "cross_top1_by_class": {"67": 0.05, "27": None, "6": 0.0}}  # None: one class attacked
    note = worst_attack_note([{"preset": "plg-gan", "hardened": judged, "baseline": {"top1": 0.85}}], "hardened",
                             "standard", False)
    assert ("Recovered: class 67 53.3% (on its decoy 100%; named on the others' 5.0%), class 27 20.0% (on its decoy "
            "27%).") in note


def test_strangers_check_gates_on_the_upper_end_of_the_paired_rise() -> None:
    """The rise in random faces named as a protected person: 10 points more fails a 2-point limit, a face or two
    more of 2,048 passes it, and a 1.5-point rise over only 200 faces fails: its interval reaches past 2."""
    baseline = np.zeros(2048, dtype=bool)
    baseline[:200] = True
    hardened = baseline.copy()
    hardened[200:405] = True  # 205 of 2,048 faces newly named: 10 points
    risen = strangers_check(baseline, hardened, limit=2.0)
    assert not risen.passed and risen.value > 10 and "baseline 9.8% -> hardened 19.8%" in risen.detail
    assert strangers_check(baseline, baseline, limit=2.0).value == 0
    nearly = baseline.copy()
    nearly[200:202] = True
    assert strangers_check(baseline, nearly, limit=2.0).passed
    few_b, few_h = baseline[1848:], hardened[1848:].copy()  # 200 faces, none named by either
    few_h[:3] = True  # 1.5 points
    unresolved = strangers_check(few_b, few_h, limit=2.0)
    assert not unresolved.passed and unresolved.value > 2
