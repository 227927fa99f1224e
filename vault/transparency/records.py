r"""What one log entry says, and how it is committed to. Pure: no I/O.

A leaf is a salted commitment ``C = SHA-256("vault-log/v1\\0" || salt || canonical(record))``
(leaf hash ``SHA-256(0x00 || C)``): the public tree reveals nothing, while the citizen, who gets salt
and record, can open their own entries. Records are pseudonymous: the citizen appears as an HMAC
of their id under the log's pseudonym key, never as an id, name or login.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Literal

import msgspec

COMMITMENT_PREFIX = b"vault-log/v1\x00"
SALT_BYTES = 32

Actor = str  # an agency client id, "citizen" or "operator"
Action = Literal[
    "read",
    "write",
    "delete",
    "grant",
    "revoke",
    "export",
    "erase",
    "denied",
    "view",
    "expire",
    "register",
    "link",
    "unlink",
]


class LogRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=False):
    """One access or consent event. Contains no personal data in clear.

    ``document`` is the id of the one document an entry is about (read, stored or deleted); records
    without one are committed to exactly as before the field existed (:func:`canonical`).
    """

    pseudonym: str
    actor: Actor
    action: Action
    time: str
    service: str | None = None
    fields: tuple[str, ...] = ()
    purpose: str | None = None
    legal_basis: str | None = None
    grant_id: str | None = None
    document: str | None = None

    def __post_init__(self) -> None:
        if len(self.pseudonym) != 64 or any(c not in "0123456789abcdef" for c in self.pseudonym):
            raise ValueError("pseudonym must be 64 lowercase hex digits")
        if not self.actor or len(self.actor) > 200:
            raise ValueError("actor must be 1..200 characters")


def utc_now_iso() -> str:
    """Current UTC time as RFC 3339 with microseconds and ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(record: LogRecord) -> bytes:
    """Deterministic JSON of ``record``: sorted keys, no whitespace, UTF-8.

    A record about no document has no ``document`` key at all, so the commitments of the entries
    written before that field existed still open.
    """
    if record.document is not None:
        return msgspec.json.encode(record, order="sorted")
    fields = msgspec.structs.asdict(record)
    del fields["document"]
    return msgspec.json.encode(fields, order="sorted")


def decode_record(data: bytes) -> LogRecord:
    """Parse canonical JSON back into a record."""
    return msgspec.json.decode(data, type=LogRecord)


def commitment(salt: bytes, record_bytes: bytes) -> bytes:
    """The leaf commitment for a salt and canonical record bytes."""
    if len(salt) != SALT_BYTES:
        raise ValueError(f"salt must be {SALT_BYTES} bytes")
    return hashlib.sha256(COMMITMENT_PREFIX + salt + record_bytes).digest()
