"""protect --method: every declared defense trains, exports and is gated by verify; options are declared once."""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli_helpers import assert_bad_input
from hardener.cli.app import app
from hardener.checkpoint import Checkpoint
from hardener.cli.protect import method_flags
from hardener.defenses.methods import METHODS, Method, Opt, load

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_thread")

FAST = {"--epochs": "1", "--batch-size": "32", "--rounds": "1", "--steps-per-round": "3", "--samples": "2",
        "--inversion-steps": "3", "--freeze": "4"}  # the smallest run of each option a method takes


def method_args(method: Method, world: dict, out: Path) -> list[str]:
    """A run of `method` on the synthetic world built from its declaration alone: its required inputs from the
    world's files, and the fastest setting of each schedule option it takes."""
    inputs = {"MODEL": world["target"], "--gan": world["gan"], "--protect": "1", "--data": world["train"],
              "--pretrained": world["public"]}
    args = ["protect", str(world["target"]), "--method", method.name, "--out", str(out)]
    args += [str(a) for flag in method.required if flag != "MODEL" for a in (flag, inputs[flag])]
    args += [a for flag, value in FAST.items() if method.option(flag) for a in (flag, value)]
    if method.option("--data") and "--data" not in method.required:
        args += ["--data", str(world["train"])]
    return args


@pytest.mark.slow
@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_trains_exports_and_verify_gates_it(name: str, mi_world: dict, tmp_path: Path) -> None:
    out = tmp_path / name
    result = runner.invoke(app, method_args(METHODS[name], mi_world, out))
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    parity = report["hardened"]["onnx_parity"]["batches"]
    assert [b["batch"] for b in parity] == [1, 7] and all(b["relative"] <= 1e-4 for b in parity)
    assert (out / "hardened.safetensors").exists() and (out / "hardened.onnx").exists() and (out / "report.md").exists()
    from hardener.loading import load_model

    hardened = load_model(out / "hardened.safetensors")  # a plain plugin FaceModel, whatever the method trained
    assert (hardened.arch, hardened.num_classes) == ("resnet", 8)
    gate = runner.invoke(app, ["verify", str(out), "--baseline", str(mi_world["target"]), "--data", str(mi_world["test"]),
                               "--gan", str(mi_world["gan"]), "--eval-model", str(mi_world["eval"]), "--protect", "1",
                               "--preset", "gmi", "--budget", "quick", "--out", str(tmp_path / "verify")])
    assert gate.exit_code in (0, 1), gate.output  # a decision, not bad input (2) or a crash (3)
    assert json.loads((tmp_path / "verify" / "report.json").read_text())["attacks"]


def test_declared_defaults_are_the_config_defaults() -> None:
    """A method's declaration is the one place its defaults live: its config class must agree with it."""
    for method in METHODS.values():
        if not method.config:
            continue
        config = load(method.config)()
        declared = {o.dest: o.default for o in method.options}
        for f in fields(config):
            if f.name in declared:
                assert declared[f.name] == getattr(config, f.name), (method.name, f.name)
    from hardener.jobs.protect_transfer import TLDMI_DEFAULTS  # tl-dmi's library default, declared again

    declared = METHODS["tl-dmi"].resolve({})
    assert (declared["epochs"], declared["batch_size"], declared["lr"]) == (
        TLDMI_DEFAULTS.epochs, TLDMI_DEFAULTS.batch_size, TLDMI_DEFAULTS.lr)


def test_every_declaration_names_code_that_exists() -> None:
    for method in METHODS.values():
        for target in filter(None, (method.job, method.defense, method.config)):
            assert callable(load(target)), (method.name, target)
        assert method.trains and method.source and method.summary, method.name


def test_a_flag_has_one_type_across_methods() -> None:
    assert "--lr" in method_flags() and len(method_flags()["--lr"]) >= 3
    clash = {"a": Method("a", "", "", "", "", options=(Opt("--x", "x", int),)),
             "b": Method("b", "", "", "", "", options=(Opt("--x", "x", float),))}
    with pytest.raises(TypeError, match="--x is declared with different types"):
        method_flags(clash)


@pytest.mark.parametrize("name, extra, phrase", [
    ("negls", ["--data", "d", "--gan", "g.safetensors"], "--gan does not apply to --method negls"),
    ("negls", ["--data", "d", "--freeze", "2"], "--freeze does not apply to --method negls"),
    ("decoy", ["--smoothing", "-0.1"], "--smoothing does not apply to --method decoy"),
    ("tl-dmi", ["--smoothing", "-0.1", "--pretrained", "p", "--data", "d"], "--smoothing does not apply to --method tl-dmi"),
    ("negls", [], "--method negls needs --data"),
    ("nope", [], "unknown --method 'nope'"),
])
def test_foreign_or_missing_options_exit_2_with_one_line(name: str, extra: list[str], phrase: str, tmp_path: Path) -> None:
    args = ["protect", "m.pt", "--method", name, "--out", str(tmp_path / "o"), *extra]
    if name == "decoy":
        args += ["--gan", "g", "--protect", "1"]
    assert_bad_input(runner.invoke(app, args), phrase)


TINY = "synthetic:ids=3,per=4,size=32,seed=0"


def test_from_scratch_needs_an_architecture(tmp_path: Path) -> None:
    result = runner.invoke(app, ["protect", "--method", "negls", "--data", TINY, "--out", str(tmp_path / "o")])
    assert_bad_input(result, "needs its architecture")


@pytest.mark.parametrize("extra, phrase", [
    (["--method", "negls", "--smoothing", "0.1"], "not a negative factor"),
    (["--method", "random-erasing", "--erase-area", "0.5"], "is not a range"),
    (["--method", "random-erasing", "--erase-area", "0.6-0.2"], "not a range of image shares"),
    (["--method", "mid", "--beta", "-1"], "non-negative"),
    (["--method", "trap-mid", "--blend", "1.5"], "not a share"),
    (["--method", "negls", "--image-size", "-3"], "--image-size -3 is outside"),
    (["--method", "dp-sgd", "--pretrained", "P", "--noise-multiplier", "0"], "--noise-multiplier must be above 0"),
])
def test_bad_method_options_exit_2(extra: list[str], phrase: str, tmp_path: Path) -> None:
    extra = [str(tmp_path / "p.pt") if e == "P" else e for e in extra]
    result = runner.invoke(app, ["protect", "--arch", "resnet", "--data", TINY, *extra, "--out", str(tmp_path / "o")])
    assert_bad_input(result, phrase)


def test_mid_folds_the_bottleneck_mean_into_the_model_head() -> None:
    """Released logits are fc(mu(f)) exactly: the fold is the inference bottleneck, not an approximation."""
    import torch

    from hardener.defenses.mid import Bottleneck, fold_bottleneck
    from hardener.registry import build_model

    torch.manual_seed(0)
    model = build_model("resnet", "resnet10", 5, 32).eval()
    bottleneck = Bottleneck(model.num_features, 64, 5).eval()
    x = torch.rand(6, 3, 32, 32)
    with torch.no_grad():
        expected, _ = bottleneck(model.forward_features(x), sample=False)
        before = model(x)
        fold_bottleneck(model, bottleneck)
        folded = model(x)
    assert not torch.allclose(before, expected, atol=1e-3)  # the fold changed the head
    assert torch.allclose(folded, expected, atol=1e-5), (folded - expected).abs().max()
    assert type(model.head_layer()) is torch.nn.Linear and model.num_classes == 5


@pytest.fixture(scope="module")
def faces():
    from hardener.data.synthetic import synthetic_faces

    return synthetic_faces(4, 8, 32, seed=0)


class _Interrupted(Exception):
    pass


def _stop_after_first_epoch(event) -> None:
    if event.message.startswith("epoch 1/"):
        raise _Interrupted


def test_trap_mid_resumes_to_the_same_weights_and_triggers(faces, tmp_path: Path) -> None:
    """The Objective's state (triggers, discriminator, its optimizer) travels in the loop's checkpoint."""
    import torch

    from hardener.defenses.trap_mid import TrapConfig, train_trap_mid
    from hardener.registry import build_model
    from hardener.train import TrainConfig

    def run(**kwargs):
        torch.manual_seed(0)
        return train_trap_mid(build_model("resnet", "resnet10", 4, 32), faces, TrapConfig(),
                              TrainConfig(epochs=2, batch_size=16), **kwargs)

    straight = run()
    with pytest.raises(_Interrupted):
        run(checkpoint=Checkpoint(tmp_path / "c.pt"), progress=_stop_after_first_epoch)
    resumed = run(checkpoint=Checkpoint(tmp_path / "c.pt", resume=True))
    assert resumed.resumed_from_epoch == 1
    assert all(torch.equal(v, straight.model.state_dict()[k]) for k, v in resumed.model.state_dict().items())
    assert torch.equal(torch.from_numpy(resumed.images["triggers"]), torch.from_numpy(straight.images["triggers"]))
    assert straight.details["triggers"] == 4 and not straight.details["triggers_in_released_model"]


def test_dp_sgd_trains_only_the_head_keeps_batchnorm_and_reports_epsilon(faces) -> None:
    import torch

    from hardener.defenses.dp_sgd import DPConfig, train_dp_sgd
    from hardener.registry import build_model
    from hardener.train import TrainConfig

    torch.manual_seed(0)
    public = build_model("resnet", "resnet10", 4, 32)
    before = {k: v.clone() for k, v in public.state_dict().items()}
    epsilons = []
    for noise in (1.0, 4.0):
        model = build_model("resnet", "resnet10", 4, 32)
        model.load_state_dict(before)
        result = train_dp_sgd(model, faces, DPConfig(noise_multiplier=noise), TrainConfig(epochs=2, batch_size=8))
        after = result.model.state_dict()
        changed = {k for k in after if not torch.equal(after[k], before[k])}
        assert changed == {"fc.weight", "fc.bias"}, sorted(changed)[:5]  # BatchNorm statistics included
        assert not any(hasattr(p, "grad_sample") for p in result.model.parameters())  # opacus removed
        assert result.details["delta"] == pytest.approx(1 / len(faces)) and result.details["steps"] > 0
        epsilons.append(result.details["epsilon"])
    assert 0 < epsilons[1] < epsilons[0] < float("inf")  # more noise, same steps: a smaller epsilon


@pytest.mark.slow
def test_negls_against_plain_ce_at_equal_epochs(mi_world: dict) -> None:
    """NegLS (-0.05, the paper's schedule) against plain CE (the world's target: same seed, data and
    schedule). What we assert is what holds at this size: NegLS pushes the probability of the other classes
    down, so on the GAN samples an inversion starts from its predictions are surer (lower entropy; 0.81 vs
    0.85 at seed 0 and 0.77 vs 0.81 at seed 1 on today's world, seed 1's CE model being the world's evaluation
    model; 0.68 vs 0.73 and 0.64 vs 0.69 on the ResNet-18 world of earlier sessions). We do NOT assert that it
    lowers GMI accuracy, because there it did not: GMI at 100 steps x 2 restarts on all 8 classes measured top-1 68.8 % (CE) -> 81.3 % (NegLS) at seed 0 and
    100 % -> 100 % at seed 1 on the ResNet-18 world, in line with `benchmarks/regularisers.py` (README: no effect beyond
    noise on this small world; the paper's gains are on 100-epoch CelebA/FaceScrub models). A benchmark
    measures attacks; this checks the mechanism."""
    import torch

    from hardener.data import load_dataset
    from hardener.defenses.negls import NegLSConfig, train_negls
    from hardener.gan import load_gan
    from hardener.loading import load_model
    from hardener.registry import build_model
    from hardener.train import TrainConfig

    from conftest import WORLD_SCHEDULE, WORLD_VARIANT

    train, gan = load_dataset(mi_world["train"]), load_gan(mi_world["gan"])
    plain = load_model(mi_world["target"]).model  # trained with CE on `train` under this schedule, seed 0
    torch.manual_seed(0)
    negls = train_negls(build_model("resnet", WORLD_VARIANT, 8, 32), train, NegLSConfig(),
                        TrainConfig(**WORLD_SCHEDULE, seed=0)).model
    samples = gan.generator(torch.randn(256, gan.latent_dim, generator=torch.Generator().manual_seed(5))).detach()
    entropy = {}
    for name, model in (("ce", plain), ("negls", negls)):
        with torch.no_grad():
            p = model.eval()(samples).softmax(1)
        entropy[name] = float(-(p * p.clamp_min(1e-12).log()).sum(1).mean())
    assert entropy["negls"] < entropy["ce"] - 0.02, entropy


def test_a_training_method_resumes_through_the_cli_and_refuses_other_options(tmp_path: Path) -> None:
    """protect's --resume reaches the loop's checkpoint, whose identity holds the method's own options and the
    file of the model it replaces."""
    import torch

    from hardener.loading import save_bundle
    from hardener.registry import build_model

    replaced = {}
    for seed in (0, 1):  # same architecture, classes and spec: only the file differs
        torch.manual_seed(seed)
        replaced[seed] = save_bundle(build_model("resnet", "resnet10", 3, 32), tmp_path / f"model{seed}.safetensors")
    options = ["--arch", "resnet", "--method", "mid", "--data", TINY, "--epochs", "1", "--batch-size", "6",
               "--out", str(tmp_path / "o"), "--json"]
    args = ["protect", str(replaced[0]), *options]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "o" / "report.json").read_text())["resumed_from_epoch"] == 1
    assert_bad_input(runner.invoke(app, [*args, "--resume", "--beta", "0.1"]), "mid_beta 0.01 -> 0.1")
    # a model built with another input spec is another run, though its weights start the same
    assert_bad_input(runner.invoke(app, [*args, "--resume", "--normalize", "half"]), "start_model")
    # so is one that replaces another MODEL file (its names and spec go into the release)
    assert_bad_input(runner.invoke(app, ["protect", str(replaced[1]), *options, "--resume"]), "model changed")


def test_dp_sgd_resumes_to_the_same_weights_and_epsilon(faces, tmp_path: Path) -> None:
    """The accountant's history travels in the checkpoint: a resumed run reports the epsilon of the whole run."""
    import torch

    from hardener.defenses.dp_sgd import DPConfig, train_dp_sgd
    from hardener.registry import build_model
    from hardener.train import TrainConfig

    def run(**kwargs):
        torch.manual_seed(0)
        return train_dp_sgd(build_model("resnet", "resnet10", 4, 32), faces, DPConfig(trainable_groups=2),
                            TrainConfig(epochs=2, batch_size=8), **kwargs)

    straight = run()
    with pytest.raises(_Interrupted):
        run(checkpoint=Checkpoint(tmp_path / "c.pt"), progress=_stop_after_first_epoch)
    resumed = run(checkpoint=Checkpoint(tmp_path / "c.pt", resume=True))
    assert resumed.resumed_from_epoch == 1
    assert (resumed.details["epsilon"], resumed.details["steps"]) == (straight.details["epsilon"], straight.details["steps"])
    assert all(torch.equal(v, straight.model.state_dict()[k]) for k, v in resumed.model.state_dict().items())


def test_trap_mid_targets_reach_every_class_when_classes_outnumber_the_batch() -> None:
    import torch

    from hardener.defenses.trap_mid import trap_targets

    generator = torch.Generator().manual_seed(0)
    seen = torch.cat([trap_targets(4, 50, generator) for _ in range(200)])
    assert set(seen.tolist()) == set(range(50))
    batch = trap_targets(8, 4, generator)
    assert torch.bincount(batch, minlength=4).tolist() == [2, 2, 2, 2]
