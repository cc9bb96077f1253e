"""Export for serving: safetensors bundle, ONNX (checked and compared with onnxruntime), TorchScript.

The ONNX file takes [0, 1] RGB input (the model's own preprocessing is inside the graph) and has a
dynamic batch axis. An export whose onnxruntime output drifts from torch beyond 1e-4 relative to
the logits' scale is an error, not a warning: a served model that differs is not the one verified.
"""
from __future__ import annotations

import io
import json
import math
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from hardener.arch import FaceModel
from hardener.errors import ExportError, InputError
from hardener.files import atomic_output, refuse_input_overwrite, sha256_file
from hardener.loading import save_bundle

OPSET = 18
PARITY_BATCHES = (1, 7)
PARITY_TOLERANCE = 1e-4
FORMATS = ("onnx", "safetensors", "torchscript")


@dataclass
class Parity:
    batch: int
    max_abs_diff: float
    logit_scale: float

    @property
    def relative(self) -> float:
        return self.max_abs_diff / max(self.logit_scale, 1e-12)

    @property
    def ok(self) -> bool:
        """Within tolerance and finite: NaN compares false against any limit, so it must fail explicitly."""
        return math.isfinite(self.max_abs_diff) and math.isfinite(self.logit_scale) and self.relative <= PARITY_TOLERANCE


@dataclass
class ExportResult:
    files: dict[str, Path] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)
    parity: list[Parity] = field(default_factory=list)
    provider: str | None = None

    def to_report(self) -> dict:
        return {
            "files": {fmt: {"path": str(p), "sha256": self.sha256[fmt]} for fmt, p in self.files.items()},
            "onnx_parity": None if not self.parity else {
                "provider": self.provider, "tolerance_relative": PARITY_TOLERANCE,
                "batches": [{**asdict(p), "relative": p.relative} for p in self.parity]},
        }


def export_model(model: FaceModel, out_dir: Path, *, formats: tuple[str, ...] = ("onnx", "safetensors"),
                 stem: str = "model", class_names: list[str] | None = None, source_sha256: str | None = None,
                 produced_by: str = "hardener export", seed: int = 0,
                 inputs: tuple[Path, ...] = ()) -> ExportResult:
    """Write the requested formats into `out_dir`; ONNX is verified against onnxruntime before it lands."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise InputError(f"unknown export format {unknown[0]!r}", fix=f"use {', '.join(FORMATS)}")
    model = model.eval().to("cpu")
    planned = {"safetensors": f"{stem}.safetensors", "onnx": f"{stem}.onnx", "torchscript": f"{stem}.torchscript.pt"}
    for fmt in formats:
        refuse_input_overwrite(out_dir / planned[fmt], inputs)
    result = ExportResult()
    if "safetensors" in formats:
        result.files["safetensors"] = save_bundle(model, out_dir / planned["safetensors"], class_names=class_names,
                                                  source_sha256=source_sha256, produced_by=produced_by)
    if "onnx" in formats:
        result.files["onnx"], result.parity, result.provider = export_onnx(model, out_dir / planned["onnx"],
                                                                           class_names=class_names, seed=seed)
    if "torchscript" in formats:
        result.files["torchscript"] = export_torchscript(model, out_dir / planned["torchscript"])
    result.sha256 = {fmt: sha256_file(p) for fmt, p in result.files.items()}
    return result


def export_onnx(model: FaceModel, path: Path, *, class_names: list[str] | None = None,
                seed: int = 0) -> tuple[Path, list[Parity], str]:
    """Dynamo export at opset 18, one self-contained file, onnx.checker, then onnxruntime parity."""
    import onnx

    size = model.spec.image_size
    example = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(seed))
    batch = torch.export.Dim("batch", min=1, max=1024)
    with atomic_output(path) as tmp:
        try:
            with warnings.catch_warnings(), redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                program = torch.onnx.export(model, (example,), dynamo=True, opset_version=OPSET,
                                            input_names=["image"], output_names=["logits"],
                                            dynamic_shapes={"x": {0: batch}}, external_data=False,
                                            optimize=True, verbose=False)
            proto = program.model_proto
            _set_onnx_metadata(proto, model, class_names)
            onnx.checker.check_model(proto, full_check=True)
            onnx.save_model(proto, str(tmp))
        except ExportError:
            raise
        except Exception as exc:
            raise ExportError(f"ONNX export failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
                              where=str(path), fix="try --torchscript, or report the architecture") from exc
        parity, provider = check_parity(model, tmp, seed=seed)
    return path, parity, provider


def check_parity(model: FaceModel, onnx_path: Path, *, seed: int = 0) -> tuple[list[Parity], str]:
    """`measure_parity`, raising ExportError above the tolerance."""
    results, provider = measure_parity(model, onnx_path, seed=seed)
    failed = [p for p in results if not p.ok]
    if failed:
        worst = failed[0]
        raise ExportError(f"onnxruntime differs from torch by {worst.max_abs_diff:.3g} at batch {worst.batch} "
                          f"({worst.relative:.2e} of the logit scale, limit {PARITY_TOLERANCE:g})",
                          where=str(onnx_path), fix="report this architecture; use the safetensors bundle meanwhile")
    return results, provider


def measure_parity(model: FaceModel, onnx_path: Path, *, seed: int = 0) -> tuple[list[Parity], str]:
    """Run torch and onnxruntime on the same random images at batch 1 and 7."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    provider = "CPUExecutionProvider"  # deterministic reference; CUDA kernels differ in the last bits
    session = ort.InferenceSession(str(onnx_path), providers=[provider])
    input_name = session.get_inputs()[0].name
    size = model.spec.image_size
    results = []
    gen = torch.Generator().manual_seed(seed + 1)
    for batch in PARITY_BATCHES:
        images = torch.rand(batch, 3, size, size, generator=gen)
        with torch.no_grad():
            expected = model(images).numpy()
        got = session.run(None, {input_name: images.numpy()})[0]
        diff = float(abs(got - expected).max())
        results.append(Parity(batch, diff, float(abs(expected).max())))
    return results, f"{provider} (available: {', '.join(available)})"


def export_torchscript(model: FaceModel, path: Path) -> Path:
    """Traced TorchScript. TorchScript is deprecated upstream; kept for serving stacks that still need it."""
    size = model.spec.image_size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, torch.rand(1, 3, size, size), check_trace=False)
    with atomic_output(path) as tmp:
        traced.save(str(tmp))
    return path


def _set_onnx_metadata(proto, model: FaceModel, class_names: list[str] | None) -> None:
    meta = {
        "hardener.arch": model.arch,
        "hardener.variant": model.variant,
        "hardener.input": "float32 NCHW RGB in [0, 1]; the model's own preprocessing is inside the graph",
        "hardener.input_spec": model.spec.to_json(),
        "hardener.num_classes": str(model.num_classes),
    }
    if class_names:
        meta["hardener.class_names"] = json.dumps(class_names)
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def worst_parity(exported: dict) -> float:
    """The largest relative ONNX-vs-torch difference over the parity batches of an export report."""
    return max(b["relative"] for b in exported["onnx_parity"]["batches"])
