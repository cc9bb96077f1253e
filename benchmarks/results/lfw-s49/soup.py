"""soup.py OUT_DIR IN_DIR... : the mean of the hardened models' weights (BN statistics too), first's metadata/report."""
import json, shutil, sys
from pathlib import Path
import torch
from safetensors import safe_open
from safetensors.torch import save_file
out = Path(sys.argv[1]); ins = [Path(p) for p in sys.argv[2:]]
out.mkdir(parents=True, exist_ok=True)
tensors, meta = {}, None
for p in ins:
    with safe_open(str(p / "hardened.safetensors"), "pt") as f:
        meta = meta or f.metadata()
        for k in f.keys():
            t = f.get_tensor(k)
            if t.is_floating_point():
                tensors[k] = tensors.get(k, 0) + t.double() / len(ins)
            else:
                tensors.setdefault(k, t)
save_file({k: (v.float() if v.dtype == torch.float64 else v) for k, v in tensors.items()}, str(out / "hardened.safetensors"), metadata=meta)
rep = json.loads((ins[0] / "report.json").read_text())
rep["soup_of"] = [str(p) for p in ins]
(out / "report.json").write_text(json.dumps(rep, indent=1))
print("wrote", out)
