"""train_gan2.py: a second defender GAN for session 50's rule R50 (.cache/benchmarks/gan2): the same half A of the
public faces as protect's GAN (.cache/benchmarks/gan), the same width and epochs, seed 2 (protect's GAN: seed 0; the
attacker's: half B, seed 1). The defender owns half A, so it can train as many GANs on it as it likes; it never sees
half B. One thread; from the repository root."""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, "benchmarks")
from train_models import add_public_classifier, train_gan_stage  # noqa: E402

cache = Path(".cache/benchmarks")
args = argparse.Namespace(gan_width=32, gan_epochs=30, device="cpu")
train_gan_stage(cache, "gan2", cache / "splits" / "public-halves" / "private.npz", 2, args)
add_public_classifier(cache, "gan2")
