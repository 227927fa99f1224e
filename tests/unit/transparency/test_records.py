"""Log records: adding the ``document`` field changed no commitment of the entries written before it."""

from __future__ import annotations

import msgspec

from vault.transparency.records import LogRecord, canonical, decode_record

RECORD = LogRecord(
    pseudonym="ab" * 32,
    actor="citizen",
    action="read",
    time="2026-01-02T03:04:05.000006Z",
    service="ummeldung",
    fields=("given_name", "document:id_card"),
    purpose="Zweck",
    legal_basis="§ 1",
    grant_id="g-1",
)
# What canonical() gave for this record before records had a ``document`` field.
BEFORE_DOCUMENT = (
    '{"action":"read","actor":"citizen","fields":["given_name","document:id_card"],"grant_id":"g-1",'
    '"legal_basis":"§ 1","pseudonym":"abababababababababababababababababababababababababababababababab",'
    '"purpose":"Zweck","service":"ummeldung","time":"2026-01-02T03:04:05.000006Z"}'
).encode()


def test_a_record_about_no_document_is_committed_to_as_before() -> None:
    assert canonical(RECORD) == BEFORE_DOCUMENT
    assert decode_record(BEFORE_DOCUMENT) == RECORD


def test_a_record_about_a_document_names_it_in_sorted_place() -> None:
    about = msgspec.structs.replace(RECORD, document="doc-1")
    body = canonical(about)
    assert body == BEFORE_DOCUMENT.replace(b'"fields"', b'"document":"doc-1","fields"')
    assert decode_record(body) == about
