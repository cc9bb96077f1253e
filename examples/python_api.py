"""Use hardener as a library: build or load a model, inspect it, export it with ONNX parity.

Run: python examples/python_api.py [OUT_DIR]
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
import torchvision

import hardener


def main(out_dir: Path) -> None:
    # A model as users bring it: a torchvision state_dict with no metadata at all.
    source = out_dir / "resnet18.pt"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), source)

    loaded = hardener.load_model(source, image_size=64)  # architecture and classes inferred from the keys
    print(f"{loaded.arch}/{loaded.variant}: {loaded.num_classes} classes, {loaded.parameters:,} parameters")
    print(f"input spec: {loaded.spec.describe()}")

    model = loaded.model
    images = torch.rand(4, 3, 64, 64)  # always [0, 1] RGB: the model normalises inside
    with torch.no_grad():
        features = model.forward_features(images)
        print(f"embedding {tuple(features.shape)}, logits {tuple(model.forward_head(features).shape)}")

    result = hardener.export_model(model, out_dir, stem="resnet18", source_sha256=loaded.source_sha256)
    for parity in result.parity:
        print(f"ONNX parity at batch {parity.batch}: max abs diff {parity.max_abs_diff:.2e}")
    print(f"wrote {', '.join(str(p) for p in result.files.values())}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="hardener-example-")))
