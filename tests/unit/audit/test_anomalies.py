"""The read-rate rule: factor x the median day (zero days count), and a floor."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.audit.anomalies import DailyCount, rate_anomalies

FIRST = date(2026, 11, 1)
LAST = date(2026, 11, 28)


def _day(i: int) -> date:
    return FIRST + timedelta(days=i)


def test_a_steady_agency_is_quiet_and_its_spike_is_found() -> None:
    counts = [DailyCount("amt", _day(i), 100) for i in range(28)]
    assert rate_anomalies(counts, FIRST, LAST) == []
    counts[10] = DailyCount("amt", _day(10), 300)
    (spike,) = rate_anomalies(counts, FIRST, LAST)
    assert (spike.agency, spike.day, spike.reads, spike.usual) == ("amt", _day(10), 300, 100.0)
    counts[10] = DailyCount("amt", _day(10), 299)
    assert rate_anomalies(counts, FIRST, LAST) == []


def test_the_floor_keeps_a_quiet_agency_quiet() -> None:
    counts = [DailyCount("klein", _day(3), 5), DailyCount("klein", _day(20), 19)]
    assert rate_anomalies(counts, FIRST, LAST) == []
    counts.append(DailyCount("klein", _day(21), 20))
    assert [a.day for a in rate_anomalies(counts, FIRST, LAST)] == [_day(21)]


def test_agencies_are_judged_separately_and_outside_days_ignored() -> None:
    counts = [DailyCount("a", _day(i), 50) for i in range(28)] + [
        DailyCount("b", _day(5), 60),
        DailyCount("b", FIRST - timedelta(days=1), 10_000),
    ]
    assert [(x.agency, x.day) for x in rate_anomalies(counts, FIRST, LAST)] == [("b", _day(5))]


def test_a_reversed_window_is_refused() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        rate_anomalies([], LAST, FIRST)


@given(st.lists(st.tuples(st.sampled_from("xyz"), st.integers(0, 27), st.integers(0, 500)), max_size=60))
def test_every_flagged_day_is_at_least_the_floor_and_three_times_usual(rows: list[tuple[str, int, int]]) -> None:
    counts = [DailyCount(a, _day(i), n) for a, i, n in rows]
    for anomaly in rate_anomalies(counts, FIRST, LAST):
        assert anomaly.reads >= 20
        assert anomaly.reads >= 3 * anomaly.usual
