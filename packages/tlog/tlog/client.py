"""The one sans-I/O log client: may a new checkpoint replace the one a verifier trusts?

``vault log verify``, ``vault audit monitor``, the agency SDK's ``LogMonitor`` and the benchmarks all
track a log the same way, and do their own fetching (sync, async, or from a receipt)::

    tracker = LogStateTracker(Verifier.from_vkey(vkey), origin=origin, witnesses=ws, quorum=2)
    checkpoint = tracker.open(note).checkpoint         # signature, origin, witness quorum
    span = tracker.proof_span(trusted, checkpoint)     # (old size, new size), or None: no proof needed
    proof = fetch_consistency(*span) if span else []
    trusted = tracker.advance(trusted, checkpoint, note, proof)

:meth:`LogStateTracker.advance` accepts a checkpoint only if it extends the trusted one (or is the
same); :meth:`LogStateTracker.check_prefix` proves an older checkpoint seen elsewhere (a receipt's) a
prefix of the trusted one without moving it. Every refusal is a :class:`TrackerError` whose subclass
says what went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tlog.cosignature import QuorumError, WitnessedCheckpoint, open_witnessed_checkpoint
from tlog.merkle import ProofError, verify_consistency
from tlog.note import NoteError, open_checkpoint

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tlog.cosignature import CosignatureVerifier
    from tlog.note import Checkpoint, Verifier


class TrackerError(ValueError):
    """A checkpoint cannot be trusted; the subclass says why, the message says how."""


class SignatureInvalid(TrackerError):
    """The checkpoint is malformed, not signed by the pinned log key, or for another origin."""


class CosignatureInvalid(TrackerError):
    """A named witness's cosignature does not verify, or the witnesses cannot make the quorum."""


class NotWitnessed(TrackerError):
    """Fewer of the named witnesses cosigned the checkpoint than the quorum asks for."""


class Rollback(TrackerError):
    """The log is smaller than a checkpoint already trusted."""


class Fork(TrackerError):
    """The log shows a different tree for a size already trusted."""


class Inconsistent(Fork):
    """The consistency proof does not show the trusted tree is a prefix of the new one (or vice versa)."""


@dataclass(frozen=True, slots=True)
class TrustedState:
    """The newest checkpoint a verifier accepted: its size, root hash and signed note."""

    size: int
    root: bytes
    checkpoint: str


class LogStateTracker:
    """Checks checkpoints of one log against a pinned key (and named witnesses); holds no state itself."""

    def __init__(
        self,
        log: Verifier,
        *,
        origin: str,
        witnesses: Sequence[CosignatureVerifier] = (),
        quorum: int | None = None,
    ) -> None:
        self.log = log
        self.origin = origin
        self.witnesses = tuple(witnesses)
        self.quorum = quorum

    def open(self, note: str | bytes) -> WitnessedCheckpoint:
        """The checkpoint in ``note``, signed by the log for its origin and cosigned by a quorum of the witnesses.

        The result names the witnesses whose cosignatures verified (none when no witnesses are named).

        Raises:
            SignatureInvalid: The note is malformed, has another origin or lacks the log's signature.
            CosignatureInvalid: A named witness's line does not verify, or the quorum cannot be met.
            NotWitnessed: Too few of the witnesses cosigned.
        """
        try:
            checkpoint = open_checkpoint(note, self.log, self.origin)
        except NoteError as exc:
            raise SignatureInvalid(str(exc)) from None
        if not self.witnesses:
            return WitnessedCheckpoint(checkpoint, ())
        try:
            return open_witnessed_checkpoint(note, self.log, self.witnesses, quorum=self.quorum, origin=self.origin)
        except QuorumError as exc:
            raise NotWitnessed(str(exc)) from None
        except NoteError as exc:
            raise CosignatureInvalid(str(exc)) from None

    @staticmethod
    def proof_span(trusted: TrustedState | None, checkpoint: Checkpoint) -> tuple[int, int] | None:
        """The consistency proof :meth:`advance` needs, as ``(first, second)``; ``None`` when it needs none."""
        if trusted is None or trusted.size == 0 or checkpoint.size <= trusted.size:
            return None
        return trusted.size, checkpoint.size

    @staticmethod
    def advance(
        trusted: TrustedState | None, checkpoint: Checkpoint, note: str, proof: Sequence[bytes]
    ) -> TrustedState:
        """The new trusted state if ``checkpoint`` (opened from ``note``) extends ``trusted``.

        ``proof`` is the log's consistency proof for :meth:`proof_span` (empty when that is ``None``).

        Raises:
            Rollback: The checkpoint is smaller than the trusted one.
            Fork: The same size with another root.
            Inconsistent: ``proof`` does not show the trusted tree is a prefix of the new one.
        """
        if trusted is not None:
            if checkpoint.size < trusted.size:
                raise Rollback(f"rollback: checkpoint size {checkpoint.size} is below the verified size {trusted.size}")
            if checkpoint.size == trusted.size and checkpoint.root != trusted.root:
                raise Fork(f"fork: two different roots for size {checkpoint.size}")
            if trusted.size:  # every tree extends the empty one
                try:
                    verify_consistency(trusted.size, checkpoint.size, trusted.root, checkpoint.root, proof)
                except ProofError as exc:
                    raise Inconsistent(
                        f"checkpoint {checkpoint.size} is not consistent with verified {trusted.size}: {exc}"
                    ) from None
        return TrustedState(checkpoint.size, checkpoint.root, note)

    @staticmethod
    def check_prefix(trusted: TrustedState, checkpoint: Checkpoint, proof: Sequence[bytes]) -> None:
        """Prove an older (or equal) ``checkpoint`` is a prefix of ``trusted`` with ``proof`` for its size to trusted's.

        Raises:
            Rollback: The checkpoint is larger than the trusted one: :meth:`advance` it instead.
            Inconsistent: ``proof`` does not show the checkpoint's tree is a prefix of the trusted one.
        """
        if checkpoint.size > trusted.size:
            raise Rollback(f"rollback: checkpoint size {checkpoint.size} is above the trusted size {trusted.size}")
        if checkpoint.size == 0:
            return
        try:
            verify_consistency(checkpoint.size, trusted.size, checkpoint.root, trusted.root, proof)
        except ProofError as exc:
            raise Inconsistent(f"checkpoint {checkpoint.size} is not a prefix of {trusted.size}: {exc}") from None
