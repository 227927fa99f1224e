"""What is recorded of an auditor's visit (vault.audit.activity.what): every filter a page applies, nothing else."""

from __future__ import annotations

from urllib.parse import parse_qsl

from vault.audit.activity import MAX_PATH, MAX_VALUE, what


def test_the_filters_are_recorded_in_a_fixed_order_without_the_language_or_empty_values() -> None:
    params = [("since", "2026-01-01"), ("action", "read"), ("lang", "en"), ("agency", ""), ("pseudonym", "ab" * 32)]
    assert what("/audit/entries", params) == (
        "/audit/entries",
        f"action=read&pseudonym={'ab' * 32}&since=2026-01-01",
    )
    assert what("/audit", []) == ("/audit", "")


def test_padding_cannot_push_a_filter_out_of_the_record() -> None:
    """An unknown parameter, however long, is not recorded; the filters the page applies all are."""
    params = [
        ("a", "x" * 5000),
        *[(f"z{i}", "y" * 900) for i in range(20)],
        ("action", "export"),
        ("pseudonym", "c" * 64),
    ]
    _, query = what("/audit/entries", params)
    assert dict(parse_qsl(query)) == {"action": "export", "pseudonym": "c" * 64}


def test_the_first_of_repeated_values_is_recorded_as_the_page_applies_it() -> None:
    _, query = what("/audit/entries", [("agency", "the-real-one"), ("agency", "decoy")])
    assert query == "agency=the-real-one"


def test_long_values_are_cut_but_every_filter_stays() -> None:
    path, query = what(
        "/audit/" + "x" * 500, [("service", "ü" * 2000), ("legal_basis", "§" * 2000), ("until", "2026-12-31")]
    )
    assert len(path) == MAX_PATH
    recorded = dict(parse_qsl(query))
    assert recorded == {"service": "ü" * MAX_VALUE, "legal_basis": "§" * MAX_VALUE, "until": "2026-12-31"}
