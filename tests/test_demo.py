"""`hardener demo --quick` runs the whole pipeline end to end (sizes too small for meaningful numbers), on the GANs
the package ships."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from typer.testing import CliRunner

from hardener.cli.app import app
from hardener.errors import InputError
from hardener.gan import packaged
from hardener.gan.bundle import load_gan


@pytest.mark.parametrize("role", sorted(packaged.ROLES))
def test_packaged_gans_load_and_say_how_they_were_trained(role: str) -> None:
    gan = packaged.ROLES[role]
    loaded = load_gan(packaged.packaged_gan_path(gan))
    assert loaded.image_size == packaged.IMAGE_SIZE and loaded.critic is not None  # attacks need D(G(z))
    assert loaded.generator.width == packaged.WIDTH
    settings = json.loads(loaded.metadata["demo_gan"])
    assert {k: settings[k] for k in ("role", "seed", "identity_offset", "identities", "images_per_identity")} == {
        "role": role, "seed": gan.seed, "identity_offset": gan.identity_offset, "identities": gan.identities,
        "images_per_identity": gan.images_per_identity}
    assert settings["epochs"] == packaged.EPOCHS and settings["ema_decay"] == packaged.EMA_DECAY


def test_the_gans_are_trained_on_different_people() -> None:
    """The gate's attacker must hold a GAN protect never saw: disjoint identity ranges, other seeds."""
    defender, attacker = packaged.DEFENDER, packaged.ATTACKER
    ranges = [range(g.identity_offset, g.identity_offset + g.identities) for g in (defender, attacker)]
    assert not set(ranges[0]) & set(ranges[1]) and defender.seed != attacker.seed
    assert packaged.packaged_gan_path(defender).read_bytes() != packaged.packaged_gan_path(attacker).read_bytes()


def test_a_missing_packaged_gan_is_one_clear_error() -> None:
    with pytest.raises(InputError, match="missing from this install"):
        packaged.packaged_gan_path(packaged.PackagedGan("nobody", "no_such_gan.safetensors", seed=0, identity_offset=0))


@pytest.mark.slow  # ~14 s: trains three models
def test_quick_demo_runs_every_step_and_writes_its_reports(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--quick", "--out", str(tmp_path / "demo"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert [row["measure"] for row in summary["table"]][:2] == ["held-out accuracy (all classes)",
                                                                 "held-out accuracy (protected classes)"]
    strangers = json.loads((tmp_path / "demo" / "verify" / "report.json").read_text())["strangers_named"]["share"]
    assert summary["table"][-1] == {"measure": "random faces named as a protected person",
                                    "before": strangers["baseline"], "after": strangers["hardened"]}
    assert summary["gate_note"].startswith("Too few reconstructions")  # 2 classes x 2 restarts: no pass possible
    assert summary["gans"] == {role: str(packaged.packaged_gan_path(gan)) for role, gan in packaged.ROLES.items()}
    for part in ("target/model.safetensors", "eval/model.safetensors", "public/model.safetensors",
                 "attack_before/grid.png", "hardened/hardened.onnx", "verify/junit.xml"):
        assert (tmp_path / "demo" / part).exists(), part


def test_demo_under_torchrun_is_refused_before_it_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under torchrun only rank 0 writes the demo's data files and the other ranks hang waiting to read them
    (session 39); the demo says so and writes nothing. The environment torchrun sets is what the command reads."""
    from cli_helpers import assert_bad_input

    monkeypatch.setenv("WORLD_SIZE", "2")
    result = CliRunner().invoke(app, ["demo", "--quick", "--out", str(tmp_path / "demo")])
    assert_bad_input(result, "one process", "torchrun")
    assert not (tmp_path / "demo").exists()
