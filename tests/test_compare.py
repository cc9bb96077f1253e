"""compare on the synthetic MI world: one row per model, the gate per model, the plot, bad input, and the
baseline's numbers equal verify's (the attack suite is one piece of code)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli_helpers import assert_bad_input
from conftest import save_untrained

from hardener.cli.app import app
from hardener.loading import save_bundle
from hardener.registry import build_model

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_thread")
ATTACK = ["--preset", "gmi", "--budget", "quick"]
LENIENT = ["--max-attack-acc", "100", "--max-mia-auc", "1.0"]


def compare_args(world: dict, out: Path, *hardened: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return ["compare", *map(str, hardened), "--baseline", str(world["target"]), "--data", str(world["test"]),
            "--gan", str(world["gan"]), "--eval-model", str(world["eval"]), *ATTACK, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def untrained(mi_world: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny model of the same identities that learned nothing: it must fail the accuracy gate."""
    return save_untrained(tmp_path_factory.mktemp("m") / "untrained.safetensors")


@pytest.fixture(scope="module")
def compared(mi_world: dict, untrained: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp("compare")
    result = runner.invoke(app, compare_args(mi_world, out, mi_world["target"], untrained,
                                             extra=("--protect", "1", "--protect", "4", "--members",
                                                    str(mi_world["train"]), "--max-acc-drop", "5",
                                                    "--max-protected-acc-drop", "5", *LENIENT)))
    return result, out


def test_one_row_per_model_in_json_markdown_and_plot_and_the_failing_model_named(compared: tuple) -> None:
    result, out = compared
    assert result.exit_code == 1, result.output  # the untrained model loses ~80 points: verify's gate fails it
    report = json.loads((out / "compare.json").read_text())
    assert [(m["name"], m["role"]) for m in report["models"]] == [("baseline", "baseline"), ("target", "hardened"),
                                                                   ("untrained", "hardened")]
    assert report["failed"] == ["untrained"] and report["exit_code"] == 1
    target, untrained = report["models"][1:]
    assert target["gate"]["passed"] and not untrained["gate"]["passed"]
    assert any(name.startswith("natural accuracy drop") for name in untrained["gate"]["failures"])
    assert untrained["natural_accuracy"]["all"] < target["natural_accuracy"]["all"] - 0.3
    for m in report["models"]:
        assert set(m["attacks"]) == {"gmi"} and m["worst_attack"]["preset"] == "gmi"
        assert 0.5 <= m["membership_inference"]["max_auc"] <= 1.0
        assert 0.0 <= m["membership_inference"]["tpr_at_1pct_fpr"] <= 1.0
        assert m["protect_seconds"] is None  # model files carry no protect report
    markdown = (out / "compare.md").read_text()
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 4 and [r.split("|")[1].strip() for r in rows[1:]] == ["baseline", "target", "untrained"]
    assert "untrained" in markdown.splitlines()[0] and "FAILED" in markdown
    assert "FAILED" in result.output and "untrained" in result.output
    png = (out / "compare.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_the_baseline_row_equals_what_verify_reports_for_the_same_seeds(mi_world: dict, compared: tuple,
                                                                        tmp_path: Path) -> None:
    _, out = compared
    baseline = json.loads((out / "compare.json").read_text())["models"][0]
    result = runner.invoke(app, ["verify", str(mi_world["target"]), "--baseline", str(mi_world["target"]), "--data",
                                 str(mi_world["test"]), "--gan", str(mi_world["gan"]), "--eval-model",
                                 str(mi_world["eval"]), "--protect", "1", "--protect", "4", *ATTACK, "--members",
                                 str(mi_world["train"]), "--out", str(tmp_path / "v")])
    assert result.exit_code in (0, 1), result.output
    verify = json.loads((tmp_path / "v" / "report.json").read_text())
    timing = {"seconds", "seconds_with_preparation"}
    ours = {k: v for k, v in baseline["attacks"]["gmi"].items() if k not in timing}
    theirs = {k: v for k, v in verify["attacks"][0]["baseline"].items() if k not in timing}
    assert ours == theirs and ours["rows"] == 2  # quick budget: 1 restart on each of the 2 protected classes
    assert baseline["natural_accuracy"] == verify["natural_accuracy"]["baseline"]
    assert baseline["membership_inference"]["details"] == verify["membership_inference"]["baseline"]
    compared_report = json.loads((out / "compare.json").read_text())  # the same random faces, the same check
    assert compared_report["strangers_named"]["share"]["baseline"] == verify["strangers_named"]["share"]["baseline"]
    assert all(any(c["name"].startswith("random faces named as a protected person") for c in m["gate"]["checks"])
               for m in compared_report["models"][1:])


def test_a_protect_folder_gives_protect_time_and_protected_classes_and_passes(mi_world: dict, tmp_path: Path) -> None:
    folder = tmp_path / "decoy"  # protect's layout: hardened.safetensors and report.json (no ONNX here)
    folder.mkdir()
    shutil.copy(mi_world["target"], folder / "hardened.safetensors")
    (folder / "report.json").write_text(json.dumps({"command": "protect", "seconds": 42.0,
                                                    "decoys": {"1": 5, "4": 2}}))
    result = runner.invoke(app, compare_args(mi_world, tmp_path / "c", folder, extra=tuple(LENIENT[:2])))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert report["protected"] == ["1 (synthetic_0001)", "4 (synthetic_0004)"] and report["passed"]
    decoy = report["models"][1]
    assert decoy["name"] == "decoy" and decoy["protect_seconds"] == 42.0
    assert set(decoy["attacks"]["gmi"]["decoy_hit_rate"]) == {"1", "4"}  # the folder's decoys, measured
    assert "42 s" in (tmp_path / "c" / "compare.md").read_text()


def test_models_with_different_class_counts_are_bad_input_naming_both(mi_world: dict, tmp_path: Path) -> None:
    five = save_bundle(build_model("resnet", "resnet10", 5, 32), tmp_path / "five_classes.safetensors")
    result = runner.invoke(app, compare_args(mi_world, tmp_path / "c", mi_world["target"], five))
    assert_bad_input(result, "five_classes.safetensors", "has 5 classes", Path(mi_world["target"]).name, "has 8")
    assert not (tmp_path / "c").exists()


def test_files_hardener_writes_are_named_by_their_folder(tmp_path: Path) -> None:
    from hardener.jobs.compare import _model_name

    (tmp_path / "negls").mkdir()
    (tmp_path / "negls" / "model.safetensors").touch()
    assert _model_name(tmp_path / "negls" / "model.safetensors") == "negls"  # train classifier's output
    assert _model_name(tmp_path / "negls") == "negls" and _model_name(tmp_path / "mine.pt") == "mine"


def test_plot_labels_of_nearby_models_are_joined_not_drawn_over_each_other() -> None:
    from hardener.report.plots import label_groups

    points = [("baseline", 0.769, 0.9, None), ("mid", 0.759, 0.7, False), ("negls", 0.753, 0.7, False),
              ("tl-dmi", 0.813, 0.8, False), ("bido", 0.734, 0.8, False)]
    assert label_groups(points) == [(76.9, 90.0, ["baseline"]), (75.9, 70.0, ["mid", "negls"]),
                                    (81.3, 80.0, ["tl-dmi"]), (73.4, 80.0, ["bido"])]


def test_a_numbered_plot_keys_every_name_and_zooms_to_its_limits(tmp_path: Path) -> None:
    """Many close points (the LFW frontier): numbers at the points, names in a key beside the axes."""
    from PIL import Image

    from hardener.report.plots import privacy_utility_png

    points = [("undefended", 0.769, 0.9, None), ("default", 0.722, 0.2, False), ("--manifold 4", 0.737, 0.1, False)]
    plain = privacy_utility_png(points, tmp_path / "plain.png")
    keyed = privacy_utility_png(points, tmp_path / "keyed.png", limits=((70, 80), (0, 100)), numbered=True)
    assert Image.open(keyed).size[0] > Image.open(plain).size[0]  # room for the key


def test_compare_numbers_its_plot_from_seven_models_on(tmp_path: Path) -> None:
    """The LFW table's 16 models printed their names over each other and over the title: from seven on,
    compare's plot numbers the points and keys the names; a few models keep their names beside the points."""
    from PIL import Image

    from hardener.report.compare import NUMBERED_FROM, privacy_utility_plot

    def report(count: int) -> dict:
        models = [{"name": f"model-{i}", "natural_accuracy": {"all": 0.7 + 0.001 * i},
                   "worst_attack": {"top1": 0.5}, "gate": {"passed": False}} for i in range(count)]
        return {"budget": "standard", "protected": ["6", "18"], "models": models}

    few = privacy_utility_plot(report(NUMBERED_FROM - 1), tmp_path / "few.png")
    many = privacy_utility_plot(report(NUMBERED_FROM), tmp_path / "many.png")
    assert Image.open(many).size[0] > Image.open(few).size[0]
