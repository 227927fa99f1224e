r"""Receipts for log entries, verifiable offline with nothing but the log's vkey. Pure: no I/O.

A receipt is the entry's commitment plus

* a **signed promise** made at append time: a C2SP signed note by the log key over
  ``<origin>\\nvault-log/promise@v1\\n<base64 commitment>\\n<UTC time>\\n``, and
* once the entry is integrated, a **proof** in ``c2sp.org/tlog-proof@v1`` form: its ``extra`` line
  is the commitment, then the leaf index, the inclusion proof and the signed checkpoint.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import msgspec

from tlog.merkle import HASH_SIZE, ProofError, leaf_hash, verify_inclusion
from tlog.note import NoteError, Verifier, open_checkpoint, open_note

PROMISE_LINE = "vault-log/promise@v1"
PROOF_HEADER = "c2sp.org/tlog-proof@v1"


class ReceiptError(ValueError):
    """A receipt is malformed or does not verify."""


class Receipt(msgspec.Struct, frozen=True):
    """What a read response carries about its log entry."""

    commitment: str
    promise: str | None = None
    proof: str | None = None


@dataclass(frozen=True, slots=True)
class VerifiedReceipt:
    """What a verified receipt proves."""

    commitment: bytes
    promised_at: str | None
    leaf_index: int | None
    tree_size: int | None


def promise_text(origin: str, commitment: bytes, time: str) -> str:
    """Body of a signed promise: the log promises to integrate ``commitment``."""
    return f"{origin}\n{PROMISE_LINE}\n{base64.b64encode(commitment).decode()}\n{time}\n"


def format_tlog_proof(commitment: bytes, index: int, proof: list[bytes], checkpoint_note: str) -> str:
    """A ``c2sp.org/tlog-proof@v1`` proof whose extra data is the commitment (the leaf's preimage)."""
    lines = [PROOF_HEADER, f"extra {base64.b64encode(commitment).decode()}", f"index {index}"]
    lines += [base64.b64encode(h).decode() for h in proof]
    return "\n".join(lines) + "\n\n" + checkpoint_note


def parse_tlog_proof(text: str) -> tuple[bytes | None, int, list[bytes], str]:
    """``(extra, index, proof hashes, checkpoint note)`` from a tlog-proof; :class:`ReceiptError` if malformed."""
    head, sep, checkpoint = text.partition("\n\n")
    if not sep or not checkpoint:
        raise ReceiptError("tlog-proof: no checkpoint after the proof lines")
    lines = head.split("\n")
    if lines[0] != PROOF_HEADER:
        raise ReceiptError(f"tlog-proof: first line must be {PROOF_HEADER}")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = _b64(rest.pop(0)[6:], "extra")
    if not rest or not rest[0].startswith("index "):
        raise ReceiptError("tlog-proof: missing index line")
    digits = rest.pop(0)[6:]
    if not (digits.isascii() and digits.isdigit()) or (digits != "0" and digits.startswith("0")) or len(digits) > 20:
        raise ReceiptError("tlog-proof: index must be a decimal without leading zeros")
    proof = [_b64(line, "proof hash") for line in rest]
    if any(len(h) != HASH_SIZE for h in proof):
        raise ReceiptError("tlog-proof: proof hashes must be 32 bytes")
    return extra, int(digits), proof, checkpoint


def verify_receipt(receipt: Receipt, vkey: str, origin: str) -> VerifiedReceipt:
    """Check the promise and the inclusion proof, whichever are present (at least one), with the log's ``vkey``."""
    if receipt.promise is None and receipt.proof is None:
        raise ReceiptError("a receipt needs a promise or a proof")
    try:
        verifier = Verifier.from_vkey(vkey)
        commitment = _b64(receipt.commitment, "commitment")
        if len(commitment) != HASH_SIZE:
            raise ReceiptError("commitment must be 32 bytes")
        promised_at = None if receipt.promise is None else _check_promise(receipt.promise, verifier, origin, commitment)
        if receipt.proof is None:
            return VerifiedReceipt(commitment, promised_at, None, None)
        extra, index, proof, note = parse_tlog_proof(receipt.proof)
        if extra is not None and extra != commitment:
            raise ReceiptError("proof is for another commitment")
        checkpoint = open_checkpoint(note, verifier, origin)
        verify_inclusion(leaf_hash(commitment), index, checkpoint.size, proof, checkpoint.root)
    except (NoteError, ProofError) as exc:
        raise ReceiptError(str(exc)) from None
    return VerifiedReceipt(commitment, promised_at, index, checkpoint.size)


def _check_promise(promise: str, verifier: Verifier, origin: str, commitment: bytes) -> str:
    lines = open_note(promise, [verifier]).text.split("\n")
    if len(lines) != 5 or lines[0] != origin or lines[1] != PROMISE_LINE or lines[4] != "":
        raise ReceiptError("promise is not a vault-log promise of this origin")
    if _b64(lines[2], "promised commitment") != commitment:
        raise ReceiptError("promise is for another commitment")
    return lines[3]


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ReceiptError(f"{what} is not base64") from None
