"""The release gate's intervals: Wilson for rates, paired bootstrap for the accuracy drop."""
from __future__ import annotations

import numpy as np
import pytest

from hardener.audit.intervals import paired_bootstrap_drop, rows_to_pass, wilson
from hardener.jobs.suite import sample_size_note


@pytest.mark.parametrize("hits, n, low, high", [
    (0, 10, 0.0, 0.2775),  # no success in 10 rows still leaves up to 27.8 %
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (0, 73, 0.0, 0.0500),  # the fewest rows with which 0 hits pass a 5 % gate
])
def test_wilson_matches_published_values(hits: int, n: int, low: float, high: float) -> None:
    interval = wilson(hits, n)
    assert interval.low == pytest.approx(low, abs=5e-4) and interval.high == pytest.approx(high, abs=5e-4)
    assert interval.low <= hits / n <= interval.high


def test_wilson_narrows_with_more_data_and_covers_everything_without_data() -> None:
    widths = [wilson(n // 4, n).high - wilson(n // 4, n).low for n in (8, 80, 800)]
    assert widths[0] > widths[1] > widths[2]
    nothing = wilson(0, 0)
    assert (nothing.low, nothing.high) == (0.0, 1.0)


def test_paired_bootstrap_sees_the_pairing_and_replays() -> None:
    rng = np.random.default_rng(3)
    baseline = rng.random(300) < 0.8
    same = paired_bootstrap_drop(baseline, baseline)
    assert (same.point, same.low, same.high) == (0.0, 0.0, 0.0)  # identical predictions: no drop, no doubt
    hardened = baseline.copy()
    hardened[np.flatnonzero(baseline)[:15]] = False  # 15 of 300 images lost: a 5-point drop
    drop = paired_bootstrap_drop(baseline, hardened)
    assert drop.point == pytest.approx(0.05) and 0.0 < drop.low < 0.05 < drop.high < 0.1
    assert drop == paired_bootstrap_drop(baseline, hardened)  # fixed seed
    unpaired = wilson(int(baseline.sum()), 300).high - wilson(int(baseline.sum()), 300).low
    assert drop.high - drop.low < unpaired, "pairing must be narrower than two independent rates"
    with pytest.raises(ValueError):
        paired_bootstrap_drop(baseline, hardened[:10])


@pytest.mark.parametrize("limit", [0.05, 0.1, 0.3, 0.5, 0.65])
def test_rows_to_pass_is_the_fewest_rows_where_zero_hits_pass(limit: float) -> None:
    n = rows_to_pass(limit)
    assert wilson(0, n).high <= limit < wilson(0, n - 1).high
    assert rows_to_pass(0.05) == 73 and rows_to_pass(0.0) is None and rows_to_pass(1.0) == 0


def test_the_gate_says_when_its_attack_checks_cannot_pass() -> None:
    def rows(*sizes: int) -> list[dict]:
        return [{"preset": f"p{i}", "hardened": {"rows": n}} for i, n in enumerate(sizes)]

    note = sample_size_note(rows(8, 75, 8), "hardened", 5.0)
    assert note.startswith("Too few reconstructions for an attack check to pass: p0, p2 had 8, under 73")
    assert "upper bound of 32.4%" in note
    assert "p1" not in note and sample_size_note(rows(73, 100), "hardened", 5.0) is None
    assert sample_size_note(rows(8), "hardened", 0.0) is None and sample_size_note(rows(2), "hardened", 70) is None
