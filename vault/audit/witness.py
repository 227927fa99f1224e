"""A transparency-log witness (C2SP tlog-witness): cosign a log's checkpoints only while they stay consistent.

For every log it is configured with (by the log's vkey; the origin is the key's name) the witness
keeps the latest checkpoint it cosigned — size, root and the note — in its own SQLite file. It
cosigns a new checkpoint only after checking, in this order (the spec's status codes in brackets):
the body is well formed [400]; the origin is one it witnesses [404]; a trusted key of that log
signed it [403]; the client's ``old`` size is not above the new size [400] and is the size the
witness last cosigned [409, answering that size as ``text/x.tlog.size``]; a checkpoint of that same
size has the same root [409]; the consistency proof from the old size verifies [422].

Check and update happen in one ``BEGIN IMMEDIATE`` transaction, so two concurrent requests are
serialised: the second sees the first's size and gets a 409 — the witness can never be made to
cosign two inconsistent trees, nor step back. The state is committed (``synchronous=FULL``) before
the cosignature is returned. A log-signed request that shows the log misbehaving (another root for
a size already cosigned, or a bad consistency proof) is kept as evidence.

The state survives restarts; a witness whose state file is lost must get a new key (and name), or
it could be made to cosign a fork of what it vouched for before.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tlog.cosignature import MAX_SIZE, RequestError, parse_add_checkpoint
from tlog.merkle import ProofError, verify_consistency
from tlog.note import Checkpoint, NoteError, Verifier, note_text, open_note
from vault.crypto.signing import load_cosigner_key

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from vault.crypto.signers import Cosigner

STATE_FILE = "witness.db"
KEY_FILE = "witness.key"
MAX_EVIDENCE = 1000
"""Evidence rows kept per origin (the oldest go first); only the log's own key can add them."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    body BLOB NOT NULL
);
"""


class WitnessError(Exception):
    """A refused add-checkpoint request; ``status`` is the spec's HTTP status code."""

    status = 400


class Malformed(WitnessError):
    """The request body is not a well-formed add-checkpoint request."""

    status = 400


class UnknownLog(WitnessError):
    """The checkpoint's origin is not a log this witness witnesses."""

    status = 404


class BadSignature(WitnessError):
    """No trusted key of the log signed the checkpoint."""

    status = 403


class Conflict(WitnessError):
    """The old size is not the witness's size, or a checkpoint of that size has another root."""

    status = 409

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


class BadProof(WitnessError):
    """The consistency proof from the old size does not verify."""

    status = 422


class StateError(Exception):
    """The witness's state directory does not belong to this witness (another name)."""


@dataclass(frozen=True, slots=True)
class Witnessed:
    """The latest checkpoint a witness cosigned for one log."""

    origin: str
    size: int
    root: bytes
    note: str


class WitnessState:
    """The witness's SQLite file: per origin the latest cosigned checkpoint, plus evidence of misbehaviour.

    Every call opens its own connection (the app calls from worker threads).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous=FULL")
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``: the write lock is taken before the first read."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def bind_name(self, name: str) -> None:
        """Record the witness name on first use; refuse another one later (its key id would change)."""
        with self.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'name'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta (key, value) VALUES ('name', ?)", (name,))
            elif row[0] != name:
                raise StateError(f"{self.path} belongs to witness {row[0]!r}, not {name!r}")

    def latest(self, origin: str) -> Witnessed | None:
        """The latest checkpoint cosigned for ``origin``."""
        with self._connect() as db:
            return _latest(db, origin)

    def evidence(self, origin: str) -> list[tuple[str, bytes]]:
        """``(reason, request body)`` of the refused log-signed requests for ``origin``, oldest first."""
        with self._connect() as db:
            rows = db.execute("SELECT reason, body FROM evidence WHERE origin = ? ORDER BY id", (origin,)).fetchall()
        return [(str(reason), bytes(body)) for reason, body in rows]


def _latest(db: sqlite3.Connection, origin: str) -> Witnessed | None:
    row = db.execute("SELECT size, root, note FROM checkpoints WHERE origin = ?", (origin,)).fetchone()
    return None if row is None else Witnessed(origin, int(row[0]), bytes(row[1]), str(row[2]))


def load_cosigner(state_dir: Path, name: str) -> Cosigner:
    """The witness key from ``<state dir>/witness.key`` (32 random bytes, mode 0600, made on first use)."""
    return load_cosigner_key(state_dir / KEY_FILE, name)


class Witness:
    """Checks and cosigns add-checkpoint requests for the logs it trusts."""

    def __init__(
        self,
        cosigner: Cosigner,
        logs: Sequence[Verifier],
        state: WitnessState,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cosigner = cosigner
        self.state = state
        self.clock = clock
        self.logs: dict[str, list[Verifier]] = {}
        for log in logs:
            if log.public_bytes == cosigner.public_bytes:
                raise StateError(f"the log key {log.name} is the witness's own key")
            self.logs.setdefault(log.name, []).append(log)
        state.bind_name(cosigner.name)

    def add_checkpoint(self, body: bytes) -> str:
        """Check an add-checkpoint request; store its checkpoint and return the cosignature line.

        Raises:
            WitnessError: The subclass says why, and its ``status`` the HTTP status to answer.
        """
        try:
            request = parse_add_checkpoint(body)
            text = note_text(request.note)
            checkpoint = Checkpoint.parse(text)
        except (RequestError, NoteError) as exc:
            raise Malformed(str(exc)) from None
        trusted = self.logs.get(checkpoint.origin)
        if trusted is None:
            raise UnknownLog(f"unknown log origin {checkpoint.origin!r}")
        try:
            open_note(request.note, trusted)
        except NoteError as exc:
            raise BadSignature(f"checkpoint not signed by a trusted key of {checkpoint.origin}: {exc}") from None
        if request.old_size > checkpoint.size:
            raise Malformed(f"old size {request.old_size} is above the checkpoint size {checkpoint.size}")
        if checkpoint.size > MAX_SIZE:
            raise Malformed(f"tree size {checkpoint.size} is too large")
        refused: WitnessError | None = None
        with self.state.transaction() as db:
            try:
                self._check(db, checkpoint, request.old_size, request.proof, body)
            except WitnessError as exc:
                refused = exc  # the transaction still commits: it may have stored evidence
            else:
                db.execute(
                    "INSERT INTO checkpoints (origin, size, root, note, updated_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
                    "note = excluded.note, updated_at = excluded.updated_at",
                    (checkpoint.origin, checkpoint.size, checkpoint.root, request.note, int(self.clock())),
                )
        if refused is not None:
            raise refused
        return self.cosigner.signature_line(text, int(self.clock()))

    def _check(
        self, db: sqlite3.Connection, checkpoint: Checkpoint, old_size: int, proof: tuple[bytes, ...], body: bytes
    ) -> None:
        """The checks against the stored state, inside the caller's transaction."""
        stored = _latest(db, checkpoint.origin)
        size = 0 if stored is None else stored.size
        if old_size != size:
            raise Conflict(f"old size {old_size} is not the latest cosigned size {size}", size)
        if stored is None:
            if proof:
                raise BadProof("the proof from size 0 must be empty")
            return
        if checkpoint.size == stored.size and checkpoint.root != stored.root:
            _keep_evidence(db, checkpoint.origin, "another root for a cosigned size", body, self.clock())
            raise Conflict(f"checkpoint {checkpoint.size} has another root than the one cosigned", size)
        try:
            verify_consistency(stored.size, checkpoint.size, stored.root, checkpoint.root, proof)
        except ProofError as exc:
            _keep_evidence(db, checkpoint.origin, f"bad consistency proof: {exc}", body, self.clock())
            raise BadProof(
                f"consistency proof from {stored.size} to {checkpoint.size} does not verify: {exc}"
            ) from None


def _keep_evidence(db: sqlite3.Connection, origin: str, reason: str, body: bytes, now: float) -> None:
    """Store a refused, log-signed request (the caller's transaction commits it), keeping the newest ones."""
    db.execute(
        "INSERT INTO evidence (origin, received_at, reason, body) VALUES (?, ?, ?, ?)", (origin, int(now), reason, body)
    )
    db.execute(
        "DELETE FROM evidence WHERE origin = ? AND id <= "
        "(SELECT id FROM evidence WHERE origin = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
        (origin, origin, MAX_EVIDENCE),
    )
