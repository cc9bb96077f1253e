"""Where the real face datasets live: ../shared/data beside the checkout, or $HARDENER_SHARED_DATA."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("HARDENER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
LFW = SHARED_DATA / "lfw_deepfunneled_min10_64.npz"

needs_lfw = pytest.mark.skipif(not LFW.exists(), reason=f"real face data not found at {LFW} (set HARDENER_SHARED_DATA)")
