"""Every command through typer's CliRunner, good input and bad."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cli_helpers import assert_bad_input, run


def test_help_and_version() -> None:
    result = run("--help")
    assert result.exit_code == 0 and "export" in result.output and "info" in result.output
    assert run("--version").output.startswith("hardener ")


def test_help_imports_neither_matplotlib_nor_sklearn() -> None:
    """`hardener --help` stays fast: the plotting and ROC libraries load inside the commands that use them.
    Importing the ROC module afterwards shows the check sees an import (sklearn) when one happens."""
    code = ("import sys, contextlib, io, hardener.cli.entry\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "    sys.argv = ['hardener', '--help']; hardener.cli.entry.main()\n"
            "print(sorted(m for m in ('matplotlib', 'sklearn') if m in sys.modules))\n"
            "import hardener.audit.roc\n"
            "print(sorted(m for m in ('matplotlib', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[]", "['sklearn']"]


def test_plugins_table_and_json() -> None:
    result = run("plugins")
    assert result.exit_code == 0
    for name in ("resnet", "vgg", "facenet", "ir152"):
        assert name in result.output
    data = json.loads(run("plugins", "--json").output)
    assert {p["name"] for p in data["plugins"]} >= {"resnet", "vgg16_64", "ir50"}
    assert data["failed"] == {}


def test_info_json(resnet_state_dict_file: Path) -> None:
    result = run("info", resnet_state_dict_file, "--image-size", "32", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["architecture"], data["variant"], data["classes"]) == ("resnet", "resnet18", 7)
    assert "assumed, plugin default" in data["input_spec"]
    assert len(data["sha256"]) == 64


def test_export_default_writes_bundle_onnx_and_report(resnet_state_dict_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "exported"
    result = run("export", resnet_state_dict_file, "--image-size", "32", "--out", out)
    assert result.exit_code == 0, result.output
    assert "ONNX parity at batch 7" in result.output
    report = json.loads((out / "report.json").read_text())
    assert set(report["files"]) == {"onnx", "safetensors"}
    assert report["onnx_parity"]["batches"][0]["relative"] <= 1e-4
    bundle = Path(report["files"]["safetensors"]["path"])
    info = json.loads(run("info", bundle, "--json").output)
    assert info["provenance"]["source_sha256"] == report["model"]["sha256"]
    assert info["input_spec"].startswith("32px")


@pytest.mark.parametrize("content", [b"", b"just some text\n" * 10, b"PK\x03\x04truncated zip"])
def test_unreadable_files_exit_2(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    for command in (("info", path), ("export", path, "--out", tmp_path / "o")):
        assert_bad_input(run(*command), str(path))


def test_truncated_checkpoint_exits_2(resnet_state_dict_file: Path, tmp_path: Path) -> None:
    data = resnet_state_dict_file.read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 3])
    assert_bad_input(run("info", path), "truncated")


def test_missing_file_exits_2(tmp_path: Path) -> None:
    assert_bad_input(run("info", tmp_path / "absent.pt"), "not found")


def test_wrong_and_unknown_arch_exit_2(resnet_state_dict_file: Path) -> None:
    assert_bad_input(run("info", resnet_state_dict_file, "--arch", "vgg"), "--arch resnet")
    assert_bad_input(run("info", resnet_state_dict_file, "--arch", "alexnet"), "unknown architecture")


def test_pickled_module_exits_2_with_resave_hint(tmp_path: Path, tv_resnet18) -> None:
    path = tmp_path / "pickled.pt"
    torch.save(tv_resnet18, path)
    assert_bad_input(run("info", path), "state_dict()", "--allow-pickle")
    result = run("info", path, "--allow-pickle", "--image-size", "32", "--json")
    assert result.exit_code == 0
    assert "warning" in result.output


def test_out_that_is_a_file_exits_2(resnet_state_dict_file: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("x")
    assert_bad_input(run("export", resnet_state_dict_file, "--image-size", "32", "--out", blocker), "--out")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run("--debug", "info", tmp_path / "absent.pt")
    assert result.exit_code != 0 and result.exception is not None
