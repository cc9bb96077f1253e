"""TL-DMI (protect --method tl-dmi): frozen groups stay bit-identical, the rest learns, bad inputs exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cli_helpers import assert_bad_input
from hardener.checkpoint import Checkpoint
from hardener.cli.app import app
from hardener.data import load_dataset
from hardener.defenses.tldmi import TransferConfig, freeze_depth, frozen_parameter_names, transfer_learn
from hardener.errors import InputError
from hardener.registry import build_model
from hardener.loading import load_model, save_bundle
from hardener.train import TrainConfig

runner = CliRunner()


def tldmi_args(world: dict, out: Path, *extra: str) -> list[str]:
    return ["protect", str(world["target"]), "--method", "tl-dmi", "--pretrained", str(world["public"]),
            "--data", str(world["train"]), "--epochs", "2", "--batch-size", "32", "--out", str(out), *extra]


def test_frozen_groups_stay_bit_identical_and_the_rest_learns(mi_world: dict) -> None:
    pretrained = load_model(mi_world["public"]).model
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    train = load_dataset(mi_world["train"])
    result = transfer_learn(pretrained, train, 8, TransferConfig(freeze=3, train=TrainConfig(epochs=1, batch_size=32)))
    after = result.model.state_dict()
    frozen = frozen_parameter_names(result.model, 3)
    assert any("running_mean" in k for k in frozen) and any(k.startswith("layer2.") for k in frozen)
    assert not any(k.startswith(("layer3.", "layer4.", "fc.")) for k in frozen)
    for key in frozen:  # weights AND BatchNorm statistics
        assert torch.equal(after[key], before[key]), key
    assert not torch.equal(after["layer3.0.conv1.weight"], before["layer3.0.conv1.weight"])
    assert not torch.equal(after["layer4.0.bn2.running_mean"], before["layer4.0.bn2.running_mean"])
    assert result.model.num_classes == 8
    assert all(p.requires_grad for p in result.model.parameters())  # released as an ordinary model
    assert all(torch.equal(v, before[k]) for k, v in pretrained.state_dict().items())  # input untouched


@pytest.mark.parametrize("freeze, until, phrase", [
    (6, None, "beyond the model's groups"),
    (-1, None, "beyond the model's groups"),
    (None, "head", "no freezable layer group"),
    (None, "layer9", "no freezable layer group"),
    (None, None, "exactly one of"),
    (2, "layer2", "exactly one of"),
])
def test_freeze_depth_refuses_what_the_model_does_not_have(freeze, until, phrase) -> None:
    model = build_model("resnet", "resnet10", 4, 32)
    with pytest.raises(InputError, match=phrase):
        freeze_depth(model, freeze, until)


def test_freeze_until_counts_the_named_group() -> None:
    model = build_model("resnet", "resnet10", 4, 32)
    assert freeze_depth(model, None, "layer3") == 4 and freeze_depth(model, 5, None) == 5


def test_cli_writes_a_bundle_verify_can_gate(mi_world: dict, tmp_path: Path) -> None:
    out = tmp_path / "tl"
    result = runner.invoke(app, tldmi_args(mi_world, out, "--freeze-until", "layer2", "--val", str(mi_world["test"])))
    assert result.exit_code == 0, result.output
    assert "held-out accuracy" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["frozen_groups"] == ["stem", "layer1", "layer2"] and report["trained_groups"][-1] == "head"
    assert 0 < report["parameters"]["trained_on_private_data"] < report["parameters"]["total"]
    assert {"hardened", "baseline"} <= set(report["natural_accuracy"])
    hardened = load_model(out / "hardened.safetensors")
    assert hardened.class_names == load_model(mi_world["target"]).class_names
    assert (out / "hardened.onnx").exists() and (out / "report.md").exists()
    gate_args = ["verify", str(out), "--baseline", str(mi_world["target"]), "--data", str(mi_world["test"]),
                 "--gan", str(mi_world["gan"]), "--eval-model", str(mi_world["eval"]), "--protect", "1",
                 "--preset", "gmi", "--steps", "5", "--restarts", "1", "--max-acc-drop", "100",
                 "--max-protected-acc-drop", "100", "--max-attack-acc", "100", "--max-strangers-rise", "100",
                 "--members", str(mi_world["train"]), "--max-mia-auc", "1.0", "--mia-shadows", "2",
                 "--mia-shadow-epochs", "1", "--out", str(tmp_path / "v")]
    gate = runner.invoke(app, gate_args)
    assert gate.exit_code == 0, gate.output
    summary = (tmp_path / "v" / "summary.md").read_text()
    assert "ONNX parity" in summary and "membership inference AUC" in summary
    mia = json.loads((tmp_path / "v" / "report.json").read_text())["membership_inference"]
    assert mia["hardened"]["members"] == len(load_dataset(mi_world["train"]))
    assert set(mia["hardened"]["attacks"]) == set(mia["baseline"]["attacks"]) == {"confidence", "loss", "lira"}
    assert sum(mia["lira"]["shadow_train_sizes"]) == 240  # K=2: each of 192 + 48 images in exactly one shadow
    # Interrupted after shadow 1: --resume keeps it (its file is not rewritten) and trains shadow 2 alone.
    kept, lost = sorted((tmp_path / "v" / "checkpoints").glob("lira_shadow_*.pt"))
    lost.unlink()
    stamp = kept.stat().st_mtime_ns
    again = runner.invoke(app, [*gate_args, "--resume"])
    assert again.exit_code == 0, again.output
    assert kept.stat().st_mtime_ns == stamp and lost.exists()
    resumed = json.loads((tmp_path / "v" / "report.json").read_text())["membership_inference"]
    assert resumed["hardened"]["attacks"]["lira"] == mia["hardened"]["attacks"]["lira"]


@pytest.mark.parametrize("extra, phrase", [
    ([], "need the training images"),
    (["--members", "test"], "overlap"),
    (["--members", "train", "--mia-shadows", "1"], "at least 2 shadow models"),
    (["--members", "train", "--max-mia-auc", "60"], "not an AUC between 0.5"),
    (["--members", "train", "--resume"], "--resume only applies"),
    (["--members", "train", "--mia-shadows", "2", "--resume"], "no checkpoint"),
])
def test_verify_mia_gate_refuses_bad_member_sets(mi_world: dict, tmp_path: Path, extra: list[str], phrase: str) -> None:
    args = ["verify", str(mi_world["target"]), "--baseline", str(mi_world["target"]), "--data", str(mi_world["test"]),
            "--gan", str(mi_world["gan"]), "--eval-model", str(mi_world["eval"]), "--protect", "1",
            "--max-mia-auc", "0.6", "--out", str(tmp_path / "v"),
            *[str(mi_world[e]) if e in ("train", "test") else e for e in extra]]
    result = runner.invoke(app, args)
    assert_bad_input(result, phrase)


@pytest.mark.parametrize("extra, phrase", [
    (["--freeze", "9"], "beyond the model's groups"),
    (["--freeze", "2", "--gan", "GAN"], "--gan does not apply to --method tl-dmi"),
    (["--freeze", "2", "--pretrained", "OTHER"], "another architecture"),
])
def test_bad_tldmi_inputs_exit_2(mi_world: dict, tmp_path: Path, extra: list[str], phrase: str) -> None:
    other = save_bundle(build_model("resnet", "resnet34", 8, 32), tmp_path / "r34.safetensors") if "OTHER" in extra else None
    extra = [str(mi_world["gan"]) if e == "GAN" else str(other) if e == "OTHER" else e for e in extra]
    args = tldmi_args(mi_world, tmp_path / "o", *extra)
    if "--pretrained" in extra:  # the later --pretrained wins in Typer; keep only ours
        i = args.index("--pretrained")
        del args[i:i + 2]
    result = runner.invoke(app, args)
    assert_bad_input(result)
    assert phrase.replace("another architecture", "resnet34") in result.output and "Traceback" not in result.output


def test_decoy_method_still_needs_its_inputs(tmp_path: Path) -> None:
    result = runner.invoke(app, ["protect", "--out", str(tmp_path / "o"), "--protect", "1"])
    assert_bad_input(result, "needs MODEL and --gan")


def test_an_interrupted_run_resumes_to_the_same_weights(mi_world: dict, tmp_path: Path) -> None:
    pretrained, train = load_model(mi_world["public"]).model, load_dataset(mi_world["train"])
    config = TransferConfig(freeze=4, train=TrainConfig(epochs=2, batch_size=32))
    straight = transfer_learn(pretrained, train, 8, config).model.state_dict()
    with pytest.raises(_Interrupted):  # stopped right after epoch 1's checkpoint
        transfer_learn(pretrained, train, 8, config, checkpoint=Checkpoint(tmp_path / "c.pt"),
                       run_identity={"pretrained_sha256": "a"}, progress=_stop_after_first_epoch)
    resumed = transfer_learn(pretrained, train, 8, config, checkpoint=Checkpoint(tmp_path / "c.pt", resume=True),
                             run_identity={"pretrained_sha256": "a"})
    assert resumed.resumed_from_epoch == 1
    assert all(torch.equal(v, straight[k]) for k, v in resumed.model.state_dict().items())
    with pytest.raises(InputError, match="pretrained changed"):
        transfer_learn(pretrained, train, 8, config, checkpoint=Checkpoint(tmp_path / "c.pt", resume=True),
                       run_identity={"pretrained_sha256": "b"})


class _Interrupted(Exception):
    pass


def _stop_after_first_epoch(event) -> None:
    if event.message.startswith("epoch 1/"):
        raise _Interrupted


@pytest.mark.parametrize("extra, phrase", [
    (["--freeze", "2", "--epochs", "0"], "at least 1"),
    (["--freeze", "2", "--lr", "-1"], "learning rate"),
    (["--freeze", "0", "--rounds", "2"], "--rounds does not apply"),
    (["--freeze", "2", "--force-spec"], "--force-spec does not apply"),
])
def test_tldmi_refuses_bad_training_options(mi_world: dict, tmp_path: Path, extra: list[str], phrase: str) -> None:
    result = runner.invoke(app, tldmi_args(mi_world, tmp_path / "o", *extra))
    assert_bad_input(result, phrase)


def test_decoy_refuses_tldmi_options_even_when_zero(mi_world: dict, tmp_path: Path) -> None:
    result = runner.invoke(app, ["protect", str(mi_world["target"]), "--gan", str(mi_world["gan"]), "--protect", "1",
                                 "--freeze", "0", "--out", str(tmp_path / "o")])
    assert_bad_input(result, "--freeze does not apply to --method decoy")


def test_without_model_the_classes_come_from_the_data(mi_world: dict, tmp_path: Path) -> None:
    args = tldmi_args(mi_world, tmp_path / "o", "--freeze", "5", "--epochs", "1")
    del args[1]  # no MODEL: a new private model from the public one alone
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    hardened, train = load_model(tmp_path / "o" / "hardened.safetensors"), load_dataset(mi_world["train"])
    assert hardened.num_classes == train.num_classes and hardened.class_names == list(train.names)
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["trained_groups"] == ["head"] and report["baseline"] is None


def test_freeze_default_leaves_the_last_groups_trainable() -> None:
    model = build_model("resnet", "resnet10", 4, 32)
    groups = [name for name, _ in model.layer_groups()]
    assert freeze_depth(model, None, None, trainable_by_default=3) == len(groups) - 3 == groups.index("layer2") + 1
    assert freeze_depth(model, None, "layer1", trainable_by_default=3) == 2  # an explicit option wins


def stacked_args(world: dict, out: Path, *extra: str) -> list[str]:
    """decoy --pretrained on the MI world at test size: 1 TL-DMI epoch, 1 short decoy round."""
    return ["protect", str(world["target"]), "--gan", str(world["gan"]), "--protect", "1", "--pretrained",
            str(world["public"]), "--data", str(world["train"]), "--transfer-epochs", "1", "--rounds", "1",
            "--steps-per-round", "2", "--inversion-steps", "4", "--samples", "2", "--out", str(out), *extra]


def test_decoy_stacked_on_tldmi_trains_from_public_then_protects(mi_world: dict, tmp_path: Path) -> None:
    """One command makes both steps: OUT/tl-dmi keeps the public model's first groups bit for bit and MODEL's
    classes, and the decoy defense fine-tunes that model (not MODEL) into OUT; --resume reuses a finished step
    only when its options match."""
    out = tmp_path / "stack"
    result = runner.invoke(app, stacked_args(mi_world, out))
    assert result.exit_code == 0, result.output
    said = "".join(result.output.split())  # rich wraps long lines
    assert "TL-DMIfirst" in said and f"--baseline{mi_world['target']}" in said
    stage = load_model(out / "tl-dmi" / "hardened.safetensors")
    public = load_model(mi_world["public"]).model.state_dict()
    frozen = frozen_parameter_names(stage.model, 3)  # stem, layer1, layer2: all but the last three groups
    assert frozen and all(torch.equal(stage.model.state_dict()[k], public[k]) for k in frozen)
    report = json.loads((out / "report.json").read_text())
    assert report["method"].startswith("tl-dmi, then decoy")
    assert report["stacked_on"]["replaces"] == str(mi_world["target"])
    assert report["stacked_on"]["frozen_groups"] == ["stem", "layer1", "layer2"]
    assert report["config"]["leak_caps"] == 2 and "leak_endpoints" in report["rounds"][0]  # the stack's default
    assert (report["config"]["decoy_choice"], report["config"]["retain_protected"]) == ("common", 4.0)  # and these
    assert report["baseline"]["sha256"] == stage.source_sha256  # the decoy step started from the TL-DMI model
    assumed = [w for w in report["warnings"] if "assumed" in w]  # MODEL declares no spec; the warning names it
    assert len(assumed) == 1 and assumed[0].startswith(f"{mi_world['target']}:"), report["warnings"]
    hardened = load_model(out / "hardened.safetensors")
    assert hardened.class_names == load_model(mi_world["target"]).class_names
    assert not torch.equal(hardened.model.state_dict()["fc.weight"], stage.model.state_dict()["fc.weight"])
    assert "Stacked on TL-DMI" in (out / "report.md").read_text()

    stamp = (out / "tl-dmi" / "hardened.safetensors").stat().st_mtime_ns
    again = runner.invoke(app, stacked_args(mi_world, out, "--resume"))
    assert again.exit_code == 0, again.output
    assert (out / "tl-dmi" / "hardened.safetensors").stat().st_mtime_ns == stamp  # the finished step was kept
    assert_bad_input(runner.invoke(app, stacked_args(mi_world, out, "--resume", "--seed", "1")), "TL-DMI step", "seed")
    other_model = stacked_args({**mi_world, "target": mi_world["eval"]}, out, "--resume")  # same classes and shape
    assert_bad_input(runner.invoke(app, other_model), "TL-DMI step", "MODEL")
    moved = tmp_path / "moved"
    out.rename(moved)  # a resumed OUT that was moved protects its own copy of the step's model, not the old path
    assert runner.invoke(app, stacked_args(mi_world, moved, "--resume")).exit_code == 0
    assert json.loads((moved / "report.json").read_text())["stacked_on"]["model"] == str(
        moved / "tl-dmi" / "hardened.safetensors")
    (moved / "tl-dmi" / "hardened.onnx").write_bytes(b"changed")
    assert_bad_input(runner.invoke(app, stacked_args(mi_world, moved, "--resume")), "missing or changed")


def test_stacked_tldmi_step_with_negative_label_smoothing(mi_world: dict, tmp_path: Path) -> None:
    """--transfer-smoothing trains the TL-DMI step with NegLS; a --resume must ask for the same factor."""
    out = tmp_path / "negls"
    result = runner.invoke(app, stacked_args(mi_world, out, "--transfer-smoothing", "-0.2"))
    assert result.exit_code == 0, result.output
    stage = json.loads((out / "tl-dmi" / "report.json").read_text())["config"]
    assert (stage["label_smoothing"], stage["smoothing_schedule"]) == (-0.2, "negls")
    assert json.loads((out / "report.json").read_text())["stacked_on"]["label_smoothing"] == -0.2
    assert "negative label smoothing -0.2" in (out / "report.md").read_text()
    assert_bad_input(runner.invoke(app, stacked_args(mi_world, out, "--resume")), "TL-DMI step", "label_smoothing")


@pytest.mark.parametrize("extra, phrase", [
    (["--transfer-smoothing", "0.1"], "not a negative factor"),
    (["--data", ""], "needs --data"),
    (["--protect", "99"], "--protect"),
    (["--resume"], "no checkpoint"),
    (["--pretrained", ""], "only runs with --pretrained"),
    (["--pretrained", "", "--transfer-smoothing", "-0.05"], "only runs with --pretrained"),
])
def test_bad_stacked_inputs_exit_2_before_any_training(mi_world: dict, tmp_path: Path, extra, phrase) -> None:
    args = stacked_args(mi_world, tmp_path / "o", *extra)
    for flag in ("--data", "--pretrained"):
        if flag in extra:  # FLAG "" leaves it out: drop ours and the empty one
            for _ in range(2):
                i = args.index(flag)
                del args[i:i + 2]
    assert_bad_input(runner.invoke(app, args), phrase)
    assert not (tmp_path / "o" / "tl-dmi").exists()
