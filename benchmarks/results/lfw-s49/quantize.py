"""quantize.py OUT_DIR IN_DIR [BITS] [noise]: a hardened model with every conv and linear weight rounded to a symmetric
per-output-channel grid of BITS bits (default 8), as weight-only int8 serving stores it (per output channel, so the
same as quantizing after folding BatchNorm into the convolutions), kept in float; the report is copied. Session 49."""
import json
import sys
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

out, src = Path(sys.argv[1]), Path(sys.argv[2])
bits = int(sys.argv[3]) if len(sys.argv) > 3 else 8
noise = len(sys.argv) > 4 and sys.argv[4] == "noise"
torch.manual_seed(0)
levels = 2 ** (bits - 1) - 1
out.mkdir(parents=True, exist_ok=True)
tensors, change, size = {}, 0.0, 0.0
with safe_open(str(src / "hardened.safetensors"), "pt") as f:
    meta = f.metadata()
    for k in f.keys():
        t = f.get_tensor(k)
        if k.endswith("weight") and t.ndim >= 2:
            scale = (t.abs().flatten(1).amax(1).clamp_min(1e-12) / levels).view(-1, *[1] * (t.ndim - 1))
            t2 = (t / scale).round().clamp(-levels, levels) * scale
            if noise:
                t2 = t + torch.randn_like(t) * (t2 - t).pow(2).mean().sqrt()
            change += float((t2 - t).pow(2).sum()); size += float(t.pow(2).sum()); t = t2
        tensors[k] = t
save_file(tensors, str(out / "hardened.safetensors"), metadata=meta)
how = f"noise the size of int{bits} rounding" if noise else f"int{bits} weights per output channel"
report = json.loads((src / "report.json").read_text()) | {"quantized": f"{how}, from {src}"}
(out / "report.json").write_text(json.dumps(report, indent=1))
print(f"{out}: relative weight change {(change / size) ** 0.5:.2e}")
