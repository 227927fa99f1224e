"""The auditors' filter parsing, CSV export and chart: pure parts of vault/api/audit_*."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from vault.api.audit_chart import series, stacked_bars
from vault.api.audit_pages import BadFilter, entries_csv, parse_filter
from vault.audit.queries import AuditEntry


def _entry(**change: object) -> AuditEntry:
    fields: dict[str, object] = {
        "id": 1, "leaf_index": 0, "time": datetime(2026, 11, 27, tzinfo=UTC), "pseudonym": "ab" * 32,
        "actor": "amt", "action": "read", "service": "ummeldung", "fields": ["given_name", "family_name"],
        "purpose": "Anmeldung", "legal_basis": "§ 17 BMG", "grant_id": "g1", "commitment": "Yw==",
        "salt": "cw==", "record": "{}",
    }  # fmt: skip
    fields.update(change)
    return AuditEntry(**fields)  # type: ignore[arg-type]


def test_filters_parse_days_as_utc_with_an_inclusive_end() -> None:
    where = parse_filter({"since": "2026-11-01", "until": "2026-11-30", "agency": " amt ", "service": ""})
    assert where.since == datetime(2026, 11, 1, tzinfo=UTC)
    assert where.until == datetime(2026, 12, 1, tzinfo=UTC)
    assert (where.agency, where.service) == ("amt", None)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "gestern"}, "since: expected a date"),
        ({"until": "31.12.2026"}, "until: expected a date"),
        ({"since": "2026-12-01", "until": "2026-11-01"}, "before the start"),
        ({"agency": "x" * 501}, "at most 500"),
    ],
)
def test_bad_filters_are_refused_with_a_reason(params: dict[str, str], message: str) -> None:
    with pytest.raises(BadFilter, match=message):
        parse_filter(params)


def test_csv_cells_that_look_like_formulas_are_defused() -> None:
    text = entries_csv(
        [_entry(purpose='=HYPERLINK("http://evil.example","x")', legal_basis="+1", service="@svc")],
        {"amt": "-Amt"},
    )
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["purpose"] == '\'=HYPERLINK("http://evil.example","x")'
    assert (row["legal_basis"], row["service"], row["agency_name"]) == ("'+1", "'@svc", "'-Amt")
    assert row["fields"] == "given_name family_name"
    assert row["pseudonym"] == "ab" * 32


def test_the_chart_escapes_agency_names_and_stacks_by_day() -> None:
    days = [(date(2026, 11, 1), "a", 3), (date(2026, 11, 1), "b", 1), (date(2026, 11, 2), "a", 2)]
    all_series = series(days, {"a": "<script>alert(1)</script>", "b": "Amt B"})
    assert [s.agency for s in all_series] == ["a", "b"]  # busiest first
    svg = str(stacked_bars(all_series, date(2026, 11, 1), date(2026, 11, 3), "t", "d"))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert svg.count("<rect") == 3
    assert 'aria-labelledby="t d"' in svg
