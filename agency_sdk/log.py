"""Offline checks of what the vault's transparency log says, against its pinned verifier key.

* :func:`verify_receipt`: a read's receipt — the log's signed promise and, once the entry is
  integrated, its inclusion proof in a signed checkpoint — for the commitment the read returned.
* :class:`LogMonitor`: remembers the newest checkpoint it has verified and accepts a new one only
  with a valid consistency proof from it: a rolled-back or forked log, or a checkpoint not signed by
  the pinned key, raises :class:`~agency_sdk.errors.ReceiptInvalid`.

Pin the key (``vkey``) out of band — from the vault operator's documentation or the first
``GET /log/key`` you trust — not from every response.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import msgspec

from agency_sdk.errors import ReceiptInvalid
from vault.transparency.merkle import ProofError, verify_consistency
from vault.transparency.note import Checkpoint, NoteError, Verifier, open_checkpoint
from vault.transparency.receipts import ReceiptError, VerifiedReceipt
from vault.transparency.receipts import verify_receipt as _verify_receipt

if TYPE_CHECKING:
    from collections.abc import Callable

    from agency_sdk.models import Receipt

__all__ = ["LogMonitor", "MonitorState", "VerifiedReceipt", "verify_receipt"]


def _origin(vkey: str, origin: str | None) -> str:
    try:
        return origin or Verifier.from_vkey(vkey).name
    except NoteError as exc:
        raise ReceiptInvalid(f"bad log key: {exc}") from None


def verify_receipt(
    receipt: Receipt, vkey: str, *, origin: str | None = None, require_proof: bool = True
) -> VerifiedReceipt:
    """Check ``receipt`` with the log's ``vkey`` (its origin defaults to the key's name).

    With ``require_proof`` (the default) the receipt must carry an inclusion proof: fetch it with
    ``client.fetch_proof(receipt)`` once the entry is integrated (within seconds). Without, a valid
    signed promise is enough.
    """
    if require_proof and receipt.proof is None:
        raise ReceiptInvalid("the receipt has no inclusion proof yet (fetch_proof first)")
    try:
        return _verify_receipt(receipt, vkey, _origin(vkey, origin))
    except ReceiptError as exc:
        raise ReceiptInvalid(str(exc)) from None


class MonitorState(msgspec.Struct):
    """The newest checkpoint a monitor has accepted (store it between runs)."""

    size: int
    root: str
    checkpoint: str


class LogMonitor:
    """Accepts checkpoints only when they extend the ones it has seen."""

    def __init__(self, vkey: str, *, origin: str | None = None, state: MonitorState | None = None) -> None:
        self.origin = _origin(vkey, origin)
        self.verifier = Verifier.from_vkey(vkey)
        self.state = state

    def observe(self, note: str, consistency: Callable[[int, int], list[bytes]]) -> Checkpoint:
        """Verify ``note`` and its consistency with the last accepted checkpoint; accept it.

        ``consistency(first, second)`` returns the vault's proof (``client.consistency_proof``).
        """
        try:
            checkpoint = open_checkpoint(note, self.verifier, self.origin)
        except NoteError as exc:
            raise ReceiptInvalid(f"checkpoint refused: {exc}") from None
        last = self.state
        if last is not None:
            old_root = base64.b64decode(last.root)
            if checkpoint.size < last.size:
                raise ReceiptInvalid(f"rollback: the log shrank from {last.size} to {checkpoint.size} entries")
            if checkpoint.size == last.size:
                if checkpoint.root != old_root:
                    raise ReceiptInvalid(f"fork: two different trees of size {last.size}")
                return checkpoint
            try:
                if last.size:  # every tree extends the empty one
                    proof = consistency(last.size, checkpoint.size)
                    verify_consistency(last.size, checkpoint.size, old_root, checkpoint.root, proof)
            except ProofError as exc:
                raise ReceiptInvalid(f"fork: checkpoint {checkpoint.size} does not extend {last.size}: {exc}") from None
        self.state = MonitorState(checkpoint.size, base64.b64encode(checkpoint.root).decode(), note)
        return checkpoint
