"""Offline checks of what the vault's transparency log says, against its pinned verifier key.

* :func:`verify_receipt`: a read's receipt — the log's signed promise and, once the entry is
  integrated, its inclusion proof in a signed checkpoint — for the commitment the read returned.
* :class:`LogMonitor`: remembers the newest checkpoint it has verified and accepts a new one only
  with a valid consistency proof from it: a rolled-back or forked log, or a checkpoint not signed by
  the pinned key, raises :class:`~agency_sdk.errors.ReceiptInvalid`.
* Both can require ``quorum`` of named ``witnesses`` (their C2SP cosignature/v1 vkeys) to have
  cosigned the checkpoint (C2SP tlog-cosignature); short of it they raise ``ReceiptInvalid``.

Pin the keys (``vkey``, ``witnesses``) out of band — from the vault operator's documentation or the
first ``GET /log/key`` you trust — not from every response.

A receipt alone cannot reveal a split view: a vault that shows each agency its own history can hand
out receipts that verify perfectly. Two things close that gap: witnesses (a quorum of independent
witnesses never cosigns two inconsistent checkpoints, so require one), and checking the receipt's
checkpoint against what a :class:`LogMonitor` has seen — ``verify_receipt(…, monitor=monitor,
consistency=client.consistency_proof)`` — while that monitor's view is compared with others' (e.g.
an auditor's ``vault audit monitor``).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import msgspec

from agency_sdk.errors import ConfigurationError, ReceiptInvalid
from tlog.client import Fork, Inconsistent, LogStateTracker, NotWitnessed, Rollback, TrackerError, TrustedState
from tlog.cosignature import CosignatureVerifier
from tlog.note import Checkpoint, NoteError, Verifier
from tlog.receipts import ReceiptError, VerifiedReceipt, parse_tlog_proof
from tlog.receipts import verify_receipt as _verify_receipt

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from agency_sdk.models import Receipt

    Consistency = Callable[[int, int], list[bytes]]  # the vault's proof, e.g. client.consistency_proof

__all__ = ["LogMonitor", "MonitorState", "VerifiedReceipt", "verify_receipt"]


def _origin(vkey: str, origin: str | None) -> str:
    try:
        return origin or Verifier.from_vkey(vkey).name
    except NoteError as exc:
        raise ReceiptInvalid(f"bad log key: {exc}") from None


def _witnesses(vkeys: Sequence[str], quorum: int | None) -> list[CosignatureVerifier]:
    try:
        witnesses = [CosignatureVerifier.from_vkey(v) for v in vkeys]
    except NoteError as exc:
        raise ConfigurationError(f"bad witness key: {exc}") from None
    if quorum is not None and not 1 <= quorum <= len({w.public_bytes for w in witnesses}):
        raise ConfigurationError(f"a quorum of {quorum} cannot be met by the {len(witnesses)} witnesses named")
    return witnesses


def _refused(exc: TrackerError) -> ReceiptInvalid:
    """The SDK's error for a checkpoint the tracker refused."""
    if isinstance(exc, NotWitnessed):
        return ReceiptInvalid(f"not witnessed: {exc}")
    if isinstance(exc, Inconsistent):
        return ReceiptInvalid(f"fork: {exc}")
    if isinstance(exc, Rollback | Fork):
        return ReceiptInvalid(str(exc))
    return ReceiptInvalid(f"checkpoint refused: {exc}")


def _open(tracker: LogStateTracker, note: str) -> Checkpoint:
    """The checkpoint in ``note``, signed by the log and cosigned by a quorum of the witnesses (if any)."""
    try:
        return tracker.open(note).checkpoint
    except TrackerError as exc:
        raise _refused(exc) from None


def verify_receipt(
    receipt: Receipt,
    vkey: str,
    *,
    origin: str | None = None,
    require_proof: bool = True,
    witnesses: Sequence[str] = (),
    quorum: int | None = None,
    monitor: LogMonitor | None = None,
    consistency: Consistency | None = None,
) -> VerifiedReceipt:
    """Check ``receipt`` with the log's ``vkey`` (its origin defaults to the key's name).

    With ``require_proof`` (the default) the receipt must carry an inclusion proof: fetch it with
    ``client.fetch_proof(receipt)`` once the entry is integrated (within seconds). Without, a valid
    signed promise is enough.

    With ``witnesses`` (vkeys), the proof's checkpoint must be cosigned by ``quorum`` of them
    (default: all); a promise alone is then not enough. With ``monitor``, the proof's checkpoint must
    also be consistent with what the monitor has seen (a newer one is accepted by it, an older one
    proven a prefix of its view); ``consistency`` fetches the proofs (``client.consistency_proof``).
    """
    if (require_proof or witnesses or monitor is not None) and receipt.proof is None:
        raise ReceiptInvalid("the receipt has no inclusion proof yet (fetch_proof first)")
    if monitor is not None and consistency is None:
        raise ConfigurationError("monitor= needs consistency= (e.g. client.consistency_proof)")
    origin = _origin(vkey, origin)
    verifiers = _witnesses(witnesses, quorum)
    try:
        verified = _verify_receipt(receipt, vkey, origin)
    except ReceiptError as exc:
        raise ReceiptInvalid(str(exc)) from None
    if receipt.proof is not None and (witnesses or monitor is not None):
        note = parse_tlog_proof(receipt.proof)[3]
        _open(LogStateTracker(Verifier.from_vkey(vkey), origin=origin, witnesses=verifiers, quorum=quorum), note)
        if monitor is not None:
            assert consistency is not None
            monitor.confirm(note, consistency)
    return verified


class MonitorState(msgspec.Struct):
    """The newest checkpoint a monitor has accepted (store it between runs)."""

    size: int
    root: str
    checkpoint: str


class LogMonitor:
    """Accepts checkpoints only when they extend the ones it has seen (and, if named, are witnessed)."""

    def __init__(
        self,
        vkey: str,
        *,
        origin: str | None = None,
        state: MonitorState | None = None,
        witnesses: Sequence[str] = (),
        quorum: int | None = None,
    ) -> None:
        self.origin = _origin(vkey, origin)
        self.verifier = Verifier.from_vkey(vkey)
        self.witnesses = _witnesses(witnesses, quorum)
        self.quorum = quorum
        self.state = state
        self._tracker = LogStateTracker(self.verifier, origin=self.origin, witnesses=self.witnesses, quorum=quorum)

    def _trusted(self) -> TrustedState | None:
        last = self.state
        return None if last is None else TrustedState(last.size, base64.b64decode(last.root), last.checkpoint)

    def confirm(self, note: str, consistency: Consistency) -> Checkpoint:
        """Check a checkpoint seen elsewhere (a receipt's) against this monitor's view.

        One at least as new as the accepted checkpoint goes through :meth:`observe` (and is
        accepted); an older one must be proven a prefix of the accepted one, which stays.
        """
        checkpoint = _open(self._tracker, note)
        trusted = self._trusted()
        if trusted is None or checkpoint.size >= trusted.size:
            return self.observe(note, consistency)
        proof = consistency(checkpoint.size, trusted.size) if checkpoint.size else []
        try:
            self._tracker.check_prefix(trusted, checkpoint, proof)
        except TrackerError as exc:
            raise _refused(exc) from None
        return checkpoint

    def proof_span(self, note: str) -> tuple[int, int] | None:
        """The consistency proof :meth:`observe` will ask for ``note`` (for clients that fetch it first).

        Raises:
            ReceiptInvalid: The checkpoint is not signed by the log, or not witnessed.
        """
        return self._tracker.proof_span(self._trusted(), _open(self._tracker, note))

    def observe(self, note: str, consistency: Consistency) -> Checkpoint:
        """Verify ``note`` and its consistency with the last accepted checkpoint; accept it.

        ``consistency(first, second)`` returns the vault's proof (``client.consistency_proof``).
        """
        checkpoint = _open(self._tracker, note)
        trusted = self._trusted()
        span = self._tracker.proof_span(trusted, checkpoint)
        try:
            accepted = self._tracker.advance(trusted, checkpoint, note, consistency(*span) if span else [])
        except TrackerError as exc:
            raise _refused(exc) from None
        if trusted is None or accepted.size != trusted.size:
            self.state = MonitorState(accepted.size, base64.b64encode(accepted.root).decode(), note)
        return checkpoint
