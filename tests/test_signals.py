"""SIGTERM and SIGINT at seeded random moments of real `hardener` processes: one line, exit 143 or 130, no
temporary files left behind, and a rerun (`--resume` where the command has it) ends with the same model as
a run that was never interrupted (same thread count: one)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from hardener.cli.app import app

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TRAIN = ["train", "classifier", "synthetic:ids=4,per=10,size=32,seed=0", "--arch", "resnet", "--variant", "resnet10",
         "--image-size", "32", "--epochs", "5", "--batch-size", "16", "--seed", "3"]


def hardener(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hardener", *map(str, args)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err


def wait_for(path_glob: tuple[Path, str], process: subprocess.Popen, timeout: float = 240) -> bool:
    folder, pattern = path_glob
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if folder.exists() and any(folder.glob(pattern)):
            return True
        time.sleep(0.02)
    return False


def stray_temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp-" in p.name]


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_file(str(a)), load_file(str(b))
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def assert_interrupted(code: int, err: str, sig: signal.Signals) -> None:
    assert code == {signal.SIGTERM: 143, signal.SIGINT: 130}[sig], err
    assert "Traceback" not in err, err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("straight")
    code, err = finish(hardener(*TRAIN, "--out", out))
    assert code == 0, err
    return out


@pytest.mark.slow  # ~13 s each: real training processes
@pytest.mark.parametrize("sig, seed", [(signal.SIGTERM, 0), (signal.SIGINT, 1)])
def test_train_interrupted_then_resumed_equals_an_uninterrupted_run(straight_run: Path, tmp_path: Path, sig, seed) -> None:
    out = tmp_path / "run"
    process = hardener(*TRAIN, "--out", out)
    assert wait_for((out / "checkpoints", "classifier_checkpoint.pt"), process), "no checkpoint was written"
    time.sleep(random.Random(seed).uniform(0.0, 0.5))  # somewhere in a later epoch
    process.send_signal(sig)
    code, err = finish(process)
    if code == 0 or (out / "report.json").exists():  # written last: a signal while Python shuts down is SIG_DFL's
        pytest.skip("the run finished before the signal arrived (a very fast machine)")
    assert_interrupted(code, err, sig)
    assert stray_temporaries(out) == []
    code, err = finish(hardener(*TRAIN, "--out", out, "--resume"))
    assert code == 0, err
    assert same_weights(out / "model.safetensors", straight_run / "model.safetensors")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_starting_up_is_one_line(tmp_path: Path, sig) -> None:
    """Python itself needs a few tens of milliseconds before any handler can exist; from then on, through
    the seconds of importing torch, a signal ends the process with one line."""
    process = hardener(*TRAIN, "--out", tmp_path / "run")
    time.sleep(random.Random(int(sig)).uniform(0.3, 0.8))
    process.send_signal(sig)
    code, err = finish(process)
    assert_interrupted(code, err, sig)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_an_import_inside_a_command_stops_at_once(sig, tmp_path: Path) -> None:
    """Raising inside an import can land in C++ (torch's pybind11 callbacks) and abort the process: a signal
    while a module is being imported exits at once with one line, even while a command runs, and removes
    the temporary of the output being written (export imports onnxruntime after writing the ONNX file's)."""
    code = f"""
import os, signal, sys, types
from hardener.cli.signals import interrupts_raise
from hardener.files import atomic_output
with interrupts_raise(), atomic_output({str(tmp_path / "model.onnx")!r}) as tmp:
    tmp.write_bytes(b"half an onnx file")
    try:
        os.kill(os.getpid(), {int(sig)})
    except KeyboardInterrupt:
        print("raised", flush=True)  # outside an import: the command's handler gets it
    sys.modules["being_imported"] = module = types.ModuleType("being_imported")
    module.__spec__ = types.SimpleNamespace(_initializing=True)
    os.kill(os.getpid(), {int(sig)})
    print("not reached", flush=True)
"""
    result = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=60)
    assert result.stdout == "raised\n", result.stdout
    assert_interrupted(result.returncode, result.stderr, sig)
    assert "while loading libraries" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # ~19 s: real processes
def test_export_terminated_during_onnx_leaves_no_temporary_and_a_rerun_cleans_a_killed_runs(straight_run: Path,
                                                                                         tmp_path: Path) -> None:
    """SIGTERM in export's ONNX parity check (SIGINT takes the same path); then a temporary as `kill -9`
    leaves it, named after a process that no longer runs, is removed by the next export."""
    out = tmp_path / "exported"
    model = straight_run / "model.safetensors"
    process = hardener("export", model, "--out", out)
    assert wait_for((out, ".model.onnx.tmp-*"), process), "the ONNX temporary never appeared"
    process.send_signal(signal.SIGTERM)
    code, err = finish(process)
    assert_interrupted(code, err, signal.SIGTERM)
    assert stray_temporaries(out) == []
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = out / f".model.onnx.tmp-{gone.stdout.strip()}"
    stale.write_bytes(b"half an onnx file")
    rerun = CliRunner().invoke(app, ["export", str(model), "--out", str(out)])  # in this process: no second start-up
    assert rerun.exit_code == 0, rerun.output
    assert (out / "model.onnx").exists() and stray_temporaries(out) == []
