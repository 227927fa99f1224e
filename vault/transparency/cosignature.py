r"""Witness cosignatures (C2SP tlog-cosignature, ``cosignature/v1``) and tlog-witness bodies. Pure: no I/O.

* A cosignature is a signed-note signature line ``— <witness name> base64(key id || timestamp || sig)``:
  key ID ``SHA-256(name || 0x0A || 0x04 || public key)[:4]``, an 8-byte big-endian POSIX timestamp,
  and Ed25519 over ``cosignature/v1\ntime <timestamp>\n`` followed by the checkpoint's note text.
  Witness keys are C2SP vkeys with signature type ``0x04``: ``<name>+<hex8 key id>+base64(0x04 || key)``.
* The ``add-checkpoint`` request body (https://c2sp.org/tlog-witness) is ``old <size>\n``, at most 63
  consistency proof lines (base64 hashes), an empty line and the signed checkpoint note.
* :func:`open_witnessed_checkpoint` checks a checkpoint's log signature and a quorum of named witnesses:
  what ``vault log verify --witness``, ``vault audit monitor`` and the agency SDK require.

Every failure is a :class:`~vault.transparency.note.NoteError` (a missing quorum the subclass
:class:`QuorumError`); malformed request bodies raise :class:`RequestError`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey  # noqa: TID251

from vault.transparency.merkle import HASH_SIZE
from vault.transparency.note import (  # the private helpers: signed-note's parsing rules, shared in the package
    Checkpoint,
    NoteError,
    Verifier,
    _b64decode,
    _check_name,
    _check_text,
    _split,
    open_checkpoint,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

ALG_COSIGNATURE_V1 = 0x04
"""Signature type byte of Ed25519 ``cosignature/v1`` keys (c2sp.org/signed-note)."""
HEADER = "cosignature/v1"
MAX_TIMESTAMP = (1 << 63) - 1
MAX_SIZE = (1 << 63) - 1
"""Largest tree size accepted in an add-checkpoint request (what a witness can store)."""
MAX_PROOF_LINES = 63
"""Most consistency proof lines an add-checkpoint request may carry (c2sp.org/tlog-witness)."""
SIZE_MEDIA_TYPE = "text/x.tlog.size"
"""Content type of a witness's 409 answer: its latest cosigned size, in decimal, and a newline."""

_SIG_PREFIX = "\u2014 "
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
_SIGNATURE_BYTES = 4 + 8 + 64


class QuorumError(NoteError):
    """Fewer of the named witnesses cosigned a checkpoint than the quorum asks for."""


class RequestError(ValueError):
    """An add-checkpoint request body is malformed (a witness answers 400)."""


def key_id(name: str, public_key: bytes) -> int:
    """Key ID of an Ed25519 cosigner: SHA-256(name || 0x0A || 0x04 || public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def signed_message(text: str, timestamp: int) -> bytes:
    """What a ``cosignature/v1`` signs: the header and time lines, then the checkpoint's note text."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} is out of range")
    return f"{HEADER}\ntime {timestamp}\n".encode() + _check_text(text)


class Cosigner:
    """A witness's named Ed25519 key, signing ``cosignature/v1`` lines."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_name(name)
        self.name = name
        self._key = private_key
        self.public_bytes = private_key.public_key().public_bytes_raw()
        self.key_id = key_id(name, self.public_bytes)

    def vkey(self) -> str:
        """The verifier key ``<name>+<hex8 key id>+<base64(0x04 || public key)>``."""
        b64 = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_bytes).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{b64}"

    def signature_line(self, text: str, timestamp: int) -> str:
        r"""Cosign a checkpoint's note ``text`` as of ``timestamp``: ``— <name> <base64>\n``."""
        sig = self._key.sign(signed_message(text, timestamp))
        raw = self.key_id.to_bytes(4, "big") + timestamp.to_bytes(8, "big") + sig
        return f"{_SIG_PREFIX}{self.name} {base64.b64encode(raw).decode('ascii')}\n"


class CosignatureVerifier(Verifier):
    """A witness's ``cosignature/v1`` verifier key; usable wherever a note :class:`Verifier` is."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        super().__init__(name, public_key)
        self.key_id = key_id(name, self.public_bytes)

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """Parse ``<name>+<hex8 key id>+<base64(0x04 || public key)>``.

        Raises:
            NoteError: The string is malformed, not a cosignature/v1 key, or its key ID does not match.
        """
        parts = vkey.split("+", 2)
        if len(parts) != 3 or not _HEX8.fullmatch(parts[1]):
            raise NoteError("malformed witness key: expected <name>+<hex8 key id>+<base64 key>")
        name, hex_id, b64 = parts
        _check_name(name)
        raw = _b64decode(b64, "witness key")
        if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            raise NoteError("malformed witness key: expected type 0x04 (cosignature/v1) and 32 Ed25519 key bytes")
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        if verifier.key_id != int(hex_id, 16):
            raise NoteError(f"witness key id {hex_id} does not match the key ({verifier.key_id:08x})")
        return verifier

    def vkey(self) -> str:
        """This key as a vkey string."""
        b64 = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_bytes).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{b64}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (timestamp || Ed25519 signature, without key ID) cosigns note ``text``."""
        if len(signature) != _SIGNATURE_BYTES - 4:
            return False
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            return False
        try:
            self._key.verify(signature[8:], f"{HEADER}\ntime {timestamp}\n".encode() + text)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified cosignature: which witness, and the time it vouched for the checkpoint."""

    name: str
    key_id: int
    timestamp: int
    line: str


@dataclass(frozen=True, slots=True)
class WitnessedCheckpoint:
    """A checkpoint signed by the log, with the cosignatures of named witnesses that verified."""

    checkpoint: Checkpoint
    cosignatures: tuple[Cosignature, ...]


def cosignatures(note: str | bytes, witnesses: Iterable[CosignatureVerifier]) -> list[Cosignature]:
    """The valid cosignatures in ``note`` by ``witnesses`` (one per witness key), ignoring unknown lines.

    Raises:
        NoteError: The note is malformed, or a named witness's line does not verify (a valid note
            never carries a bad signature by a known key: the whole note is refused).
    """
    known = {(w.name, w.key_id): w for w in witnesses}
    text, sigs = _split(note)
    text_bytes = text.encode("utf-8")
    found: dict[bytes, Cosignature] = {}
    for name, kid, sig, line in sigs:
        witness = known.get((name, kid))
        if witness is None:
            continue
        if not witness.verify(text_bytes, sig):
            raise NoteError(f"invalid cosignature by witness {name}+{kid:08x}")
        cosig = Cosignature(name, kid, int.from_bytes(sig[:8], "big"), line)
        earlier = found.get(witness.public_bytes)
        if earlier is None or cosig.timestamp > earlier.timestamp:
            found[witness.public_bytes] = cosig  # one key counts once, whatever names it appears under
    return list(found.values())


def open_witnessed_checkpoint(
    note: str | bytes,
    log: Verifier,
    witnesses: Sequence[CosignatureVerifier] = (),
    *,
    quorum: int | None = None,
    origin: str | None = None,
) -> WitnessedCheckpoint:
    """Verify the log's signature on ``note`` and that at least ``quorum`` of ``witnesses`` cosigned it.

    ``quorum`` defaults to every named witness; witnesses are counted by distinct public key. A
    witness with the log's own key is refused: it would let the log vouch for itself.

    Raises:
        NoteError: The checkpoint does not verify under ``log`` (or has another origin), a named
            witness's cosignature is invalid, or the arguments are inconsistent.
        QuorumError: Fewer than ``quorum`` of the witnesses cosigned.
    """
    distinct = {w.public_bytes for w in witnesses}
    need = len(distinct) if quorum is None else quorum
    if not 0 <= need <= len(distinct):
        raise NoteError(f"a quorum of {need} cannot be met by {len(distinct)} distinct witness keys")
    if log.public_bytes in distinct:
        raise NoteError("a witness key is the log's own key")
    checkpoint = open_checkpoint(note, log, origin)
    found = cosignatures(note, witnesses) if witnesses else []
    if len(found) < need:
        names = ", ".join(sorted(c.name for c in found)) or "none"
        raise QuorumError(
            f"checkpoint {checkpoint.size} is cosigned by {len(found)} of the {len(distinct)} named witnesses "
            f"({names}); {need} required"
        )
    return WitnessedCheckpoint(checkpoint, tuple(sorted(found, key=lambda c: c.name)))


def parse_verifiers(vkeys: Iterable[str]) -> list[CosignatureVerifier]:
    """Witness verifier keys from vkey strings.

    Raises:
        NoteError: A key is malformed.
    """
    return [CosignatureVerifier.from_vkey(v.strip()) for v in vkeys]


# -- tlog-witness add-checkpoint ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """An add-checkpoint request: the size the client believes the witness has, a proof from it, a note."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """The request body of ``POST <prefix>/add-checkpoint``."""
    if old_size < 0 or len(proof) > MAX_PROOF_LINES or any(len(h) != HASH_SIZE for h in proof):
        raise RequestError("old size must be ≥ 0 and the proof at most 63 hashes of 32 bytes")
    lines = [f"old {old_size}", *(base64.b64encode(h).decode("ascii") for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode("utf-8")


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse an add-checkpoint body (the note itself is checked by whoever verifies its signature).

    Raises:
        RequestError: The body is not UTF-8, lacks the old size line or the empty line, or has a
            malformed size or proof line.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError("the body is not UTF-8") from None
    head, sep, note = text.partition("\n\n")
    if not sep or not note:
        raise RequestError("expected the old size line, proof lines, an empty line, then the checkpoint")
    first, *proof_lines = head.split("\n")
    digits = first.removeprefix("old ")
    if digits == first or not _SIZE.fullmatch(digits) or int(digits) > MAX_SIZE:
        raise RequestError("the first line must be 'old <size>' in decimal without leading zeros")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise RequestError(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for line in proof_lines:
        try:
            value = _b64decode(line, "proof line")
        except NoteError as exc:
            raise RequestError(str(exc)) from None
        if len(value) != HASH_SIZE:
            raise RequestError("a proof line is not a 32-byte hash")
        proof.append(value)
    return AddCheckpoint(int(digits), tuple(proof), note)


def format_size(size: int) -> str:
    r"""A 409 body: ``<size>\n`` (content type :data:`SIZE_MEDIA_TYPE`)."""
    return f"{size}\n"


def parse_size(body: str) -> int:
    """The witness's size from a 409 answer.

    Raises:
        RequestError: The body is not a decimal size followed by a newline.
    """
    digits = body.removesuffix("\n")
    if digits == body or not _SIZE.fullmatch(digits):
        raise RequestError("a tlog size body is a decimal without leading zeros and a newline")
    return int(digits)


def response_cosignatures(body: str, text: str, witness: CosignatureVerifier) -> list[Cosignature]:
    """The valid cosignatures by ``witness`` in a 200 answer to add-checkpoint, for checkpoint ``text``.

    Lines by other keys are ignored (the spec says so); a line by ``witness`` that does not verify,
    or a body that is not signature lines, raises :class:`NoteError`.
    """
    if not body.endswith("\n") or not body.startswith(_SIG_PREFIX):
        raise NoteError("a witness answers with note signature lines")
    return cosignatures(text + "\n" + body, [witness])
