"""The bench's summary figures."""

from __future__ import annotations

import pytest

from inference.bench.report import percentile


def test_percentile_picks_the_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == pytest.approx(50.0, abs=1)
    assert percentile(values, 0.95) == pytest.approx(95.0, abs=1)
    assert percentile([3.0], 0.95) == 3.0
