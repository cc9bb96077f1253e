"""Serving latency: the exported ONNX on onnxruntime against torch eager, per built-in architecture at its
default input size, batch 1 and 64, in one process with warm sessions.

    python benchmarks/serving.py [--archs resnet vgg ...] [--batches 1 64] [--runs 20] [--threads 2]

Both engines get the same thread count, and their runs alternate (eager, onnxruntime, eager, ...) so that
a busy machine slows both alike; the table gives the median milliseconds and onnxruntime's speed-up. With
CUDA and onnxruntime's CUDA provider present, a second pair of columns times both on the GPU.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="*", default=None, help="plugin names (default: every registered one)")
    parser.add_argument("--batches", nargs="*", type=int, default=[1, 64])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per engine and batch (after 3 warm-up runs)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads for both engines (default: torch's)")
    parser.add_argument("--classes", type=int, default=100)
    args = parser.parse_args()

    import onnxruntime as ort
    import torch

    from hardener import registry
    from hardener.export import export_onnx

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    cuda = torch.cuda.is_available() and "CUDAExecutionProvider" in ort.get_available_providers()
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, {threads} thread(s), CUDA timed: {cuda}")
    header = "| architecture | input | batch | eager CPU ms | onnxruntime CPU ms | ORT speed-up |"
    if cuda:
        header += " eager CUDA ms | onnxruntime CUDA ms |"
    print("\n" + header)
    print("|" + " --- |" * (header.count("|") - 1))
    names = args.archs or registry.names()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            plugin = registry.get(name)
            variant = plugin.variants[0]
            model = plugin.build(variant, args.classes, None).eval()
            size = model.spec.image_size
            onnx_path, _, _ = export_onnx(model, Path(tmp) / f"{name}.onnx")
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            cpu = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
            gpu = ort.InferenceSession(str(onnx_path), providers=["CUDAExecutionProvider"]) if cuda else None
            input_name = cpu.get_inputs()[0].name
            for batch in args.batches:
                x = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
                eager_ms, ort_ms = alternate(lambda: _eager(model, x), lambda: cpu.run(None, {input_name: x.numpy()}),
                                             args.runs)
                row = (f"| {name}/{variant} | {size} px | {batch} | {eager_ms:.1f} | {ort_ms:.1f} | "
                       f"{eager_ms / ort_ms:.2f}x |")
                if gpu is not None:
                    model_gpu, x_gpu = model.to("cuda"), x.to("cuda")
                    eager_gpu, ort_gpu = alternate(lambda: _eager(model_gpu, x_gpu, sync=True),
                                                   lambda: gpu.run(None, {input_name: x.numpy()}), args.runs)
                    model.to("cpu")
                    row += f" {eager_gpu:.2f} | {ort_gpu:.2f} |"
                print(row, flush=True)


def _eager(model, x, sync: bool = False):
    import torch

    with torch.inference_mode():
        out = model(x)
    if sync:
        torch.cuda.synchronize()
    return out


def alternate(first, second, runs: int, warmup: int = 3) -> tuple[float, float]:
    """Median milliseconds of each callable, their runs interleaved."""
    for _ in range(warmup):
        first(), second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for fn, sink in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            fn()
            sink.append(1000 * (time.perf_counter() - start))
    return statistics.median(times[0]), statistics.median(times[1])


if __name__ == "__main__":
    main()
