"""Which read rates stand out. Pure: no I/O.

An agency's *usual* rate is the median of its daily reads over the window, counting the days it
read nothing as zero. A day stands out when the agency read at least ``factor`` times its usual
rate and at least ``floor`` times: the floor keeps a quiet agency's third read of a week from
being flagged, the median keeps one busy day from hiding the next.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from collections.abc import Iterable

FACTOR = 3.0
FLOOR = 20


@dataclass(frozen=True, slots=True)
class DailyCount:
    """Reads by one agency on one day."""

    agency: str
    day: date
    reads: int


class RateAnomaly(msgspec.Struct, frozen=True):
    """A day on which an agency read far above its usual rate."""

    agency: str
    day: date
    reads: int
    usual: float


def rate_anomalies(
    counts: Iterable[DailyCount], first: date, last: date, *, factor: float = FACTOR, floor: int = FLOOR
) -> list[RateAnomaly]:
    """Days in ``[first, last]`` on which an agency read ``≥ max(floor, factor x usual)`` times.

    Sorted by agency, then day. Counts outside the window are ignored.
    """
    if last < first:
        raise ValueError("the window ends before it starts")
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    per_agency: dict[str, dict[date, int]] = {}
    for c in counts:
        if first <= c.day <= last:
            per_agency.setdefault(c.agency, {})[c.day] = per_agency.get(c.agency, {}).get(c.day, 0) + c.reads
    out: list[RateAnomaly] = []
    for agency in sorted(per_agency):
        by_day = per_agency[agency]
        usual = float(statistics.median(by_day.get(d, 0) for d in days))
        threshold = max(float(floor), factor * usual)
        out.extend(RateAnomaly(agency, d, by_day[d], usual) for d in sorted(by_day) if by_day[d] >= threshold)
    return out
