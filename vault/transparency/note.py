"""C2SP signed notes and tlog checkpoints with Ed25519 keys (pure, no I/O).

Implements https://c2sp.org/signed-note (signature type ``0x01``, Ed25519) and
https://c2sp.org/tlog-checkpoint, compatible with ``golang.org/x/mod/sumdb/note``. Every failure
raises :class:`NoteError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey  # noqa: TID251

if TYPE_CHECKING:
    from collections.abc import Sequence

MAX_NOTE_SIZE = 1 << 20
"""Largest accepted note, in bytes."""
MAX_SIGNATURES = 100
"""Largest accepted number of signature lines in one note."""

_ALG_ED25519 = 0x01
_SIG_PREFIX = "\u2014 "  # em dash, space
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_SIZE = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A key, note or checkpoint is malformed, or a signature does not verify."""


def _b64decode(data: str, what: str) -> bytes:
    """Decode canonical standard base64 (RFC 4648, section 4) or raise :class:`NoteError`."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != data:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def _check_name(name: str) -> None:
    """Reject key names that are empty or contain spaces, control characters or '+'."""
    if not name or "+" in name or any(ch.isspace() or ch < " " for ch in name):
        raise NoteError(f"invalid key name {name!r}: must be non-empty, without spaces or '+'")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError(f"invalid key name {name!r}: not valid UTF-8") from None


def _check_text(text: str) -> bytes:
    """Return the UTF-8 bytes of a note text; it must end in a newline and hold no other controls."""
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if _CONTROL.search(text):
        raise NoteError("note text contains a control character other than newline")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError("note text is not valid UTF-8") from None


def _key_id(name: str, public_key: bytes) -> int:
    """Key ID: the first four bytes (big-endian) of SHA-256(name || 0x0A || 0x01 || public key)."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([_ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _parse_key(encoded: str, what: str) -> tuple[str, int, bytes]:
    """Split ``<name>+<hex8 key id>+<base64(0x01 || 32 bytes)>`` into name, key ID and key bytes."""
    parts = encoded.split("+", 2)
    if len(parts) != 3 or not _HEX8.fullmatch(parts[1]):
        raise NoteError(f"malformed {what}: expected <name>+<hex8 key id>+<base64 key>")
    name, hex_id, b64 = parts
    _check_name(name)
    raw = _b64decode(b64, what)
    if len(raw) != 33 or raw[0] != _ALG_ED25519:
        raise NoteError(f"malformed {what}: expected Ed25519 (0x01) followed by 32 key bytes")
    return name, int(hex_id, 16), raw[1:]


class Signer:
    """A named Ed25519 note signing key."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_name(name)
        self.name = name
        self._key = private_key
        self._public = private_key.public_key().public_bytes_raw()
        self.key_id = _key_id(name, self._public)

    @classmethod
    def from_skey(cls, skey: str) -> Signer:
        """Parse a Go-format private key string ``PRIVATE+KEY+<name>+<hex8 key id>+<base64 key>``.

        Raises:
            NoteError: The string is malformed or its key ID does not match the key.
        """
        if not skey.startswith("PRIVATE+KEY+"):
            raise NoteError("malformed signer key: missing PRIVATE+KEY+ prefix")
        name, key_id, seed = _parse_key(skey.removeprefix("PRIVATE+KEY+"), "signer key")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        if signer.key_id != key_id:
            raise NoteError(f"signer key id {key_id:08x} does not match the key ({signer.key_id:08x})")
        return signer

    def vkey(self) -> str:
        """Return the verifier key string ``<name>+<hex8 key id>+<base64(0x01 || public key)>``."""
        b64 = base64.b64encode(bytes([_ALG_ED25519]) + self._public).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{b64}"

    def signature_line(self, text: str) -> str:
        r"""Sign ``text`` and return just the signature line ``— <name> <base64(key id || sig)>\n``."""
        sig = self._key.sign(_check_text(text))
        b64 = base64.b64encode(self.key_id.to_bytes(4, "big") + sig).decode("ascii")
        return f"{_SIG_PREFIX}{self.name} {b64}\n"

    def sign(self, text: str) -> str:
        """Sign ``text`` (which must end in a newline) and return the complete signed note."""
        return _limit(text + "\n" + self.signature_line(text))


class Verifier:
    """A named Ed25519 note verification key."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        _check_name(name)
        self.name = name
        self._key = public_key
        self.public_bytes = public_key.public_bytes_raw()
        self.key_id = _key_id(name, self.public_bytes)

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse a verifier key string ``<name>+<hex8 key id>+<base64(0x01 || public key)>``.

        Raises:
            NoteError: The string is malformed or its key ID does not match the key.
        """
        name, key_id, raw = _parse_key(vkey, "verifier key")
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw))
        if verifier.key_id != key_id:
            raise NoteError(f"verifier key id {key_id:08x} does not match the key ({verifier.key_id:08x})")
        return verifier

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Return whether ``signature`` (raw, without key ID) is a valid signature of ``text``."""
        try:
            self._key.verify(signature, text)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class OpenedNote:
    """A note whose signatures were checked; ``signatures`` lists the verified (name, key ID) pairs."""

    text: str
    signatures: list[tuple[str, int]] = field(default_factory=list)


def _limit(note: str) -> str:
    if len(note.encode("utf-8")) > MAX_NOTE_SIZE:
        raise NoteError(f"note exceeds {MAX_NOTE_SIZE} bytes")
    return note


def _decode(note: str | bytes) -> str:
    """Return the note as text after checking its size, UTF-8 validity and control characters."""
    if len(note) > MAX_NOTE_SIZE:
        raise NoteError(f"note exceeds {MAX_NOTE_SIZE} bytes")
    if isinstance(note, str):
        try:
            note = note.encode("utf-8")
        except UnicodeEncodeError:
            raise NoteError("note is not valid UTF-8") from None
    if len(note) > MAX_NOTE_SIZE:
        raise NoteError(f"note exceeds {MAX_NOTE_SIZE} bytes")
    try:
        msg = note.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError("note is not valid UTF-8") from None
    if _CONTROL.search(msg):
        raise NoteError("note contains a control character other than newline")
    return msg


def _split(note: str | bytes) -> tuple[str, list[tuple[str, int, bytes, str]]]:
    """Parse a note into its text and (name, key ID, signature, line) tuples, without verifying."""
    msg = _decode(note)
    split = msg.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, block = msg[: split + 1], msg[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("note has no signature lines, or its last line does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    sigs = []
    for line in lines:
        name, sep, b64 = line.removeprefix(_SIG_PREFIX).partition(" ")
        if not line.startswith(_SIG_PREFIX) or not sep:
            raise NoteError(f"malformed signature line {line!r}")
        _check_name(name)
        raw = _b64decode(b64, f"signature of {name!r}")
        if len(raw) < 5:
            raise NoteError(f"signature of {name!r} is too short")
        sigs.append((name, int.from_bytes(raw[:4], "big"), raw[4:], line))
    return text, sigs


def open_note(note: str | bytes, verifiers: Sequence[Verifier]) -> OpenedNote:
    """Parse ``note`` and verify its signatures against the known ``verifiers``.

    Signatures whose (name, key ID) matches no verifier are ignored; every signature by a known key
    must verify, and at least one must be present.

    Raises:
        NoteError: The note is malformed, a known key's signature fails, or no known key signed it.
    """
    known: dict[tuple[str, int], Verifier] = {}
    for v in verifiers:
        other = known.setdefault((v.name, v.key_id), v)
        if other.public_bytes != v.public_bytes:
            raise NoteError(f"ambiguous verifiers for key {v.name}+{v.key_id:08x}")
    text, sigs = _split(note)
    text_bytes = text.encode("utf-8")
    verified: list[tuple[str, int]] = []
    for name, key_id, sig, _ in sigs:
        verifier = known.get((name, key_id))
        if verifier is None:
            continue
        if not verifier.verify(text_bytes, sig):
            raise NoteError(f"invalid signature for key {name}+{key_id:08x}")
        if (name, key_id) not in verified:
            verified.append((name, key_id))
    if not verified:
        raise NoteError("note has no valid signature by a known key")
    return OpenedNote(text=text, signatures=verified)


def add_signature(note: str, signer: Signer) -> str:
    """Cosign a well-formed signed note: append ``signer``'s signature line (replacing an older one).

    Existing signatures are not verified; callers should :func:`open_note` the note first.

    Raises:
        NoteError: The note is malformed or would exceed the size or signature limits.
    """
    text, sigs = _split(note)
    kept = [line + "\n" for name, key_id, _, line in sigs if (name, key_id) != (signer.name, signer.key_id)]
    if len(kept) >= MAX_SIGNATURES:
        raise NoteError(f"note already has {MAX_SIGNATURES} signatures")
    return _limit(text + "\n" + "".join(kept) + signer.signature_line(text))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A transparency log checkpoint (c2sp.org/tlog-checkpoint); validated on construction."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or _CONTROL.search(self.origin):
            raise NoteError("checkpoint origin must be a non-empty line without control characters")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size < 1 << 64:
            raise NoteError(f"checkpoint size {self.size!r} is not a uint64")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise NoteError("checkpoint root hash must be exactly 32 bytes")
        for ext in self.extensions:
            if not ext or "\n" in ext or _CONTROL.search(ext):
                raise NoteError(f"checkpoint extension line {ext!r} must be non-empty, without control characters")

    def body(self) -> str:
        r"""Return the note text ``<origin>\n<size>\n<base64 root>\n`` plus extension lines."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii"), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Parse a checkpoint note text (as returned by :meth:`body`).

        Raises:
            NoteError: The text is not a well-formed checkpoint.
        """
        _check_text(body)
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("checkpoint needs origin, size and root hash lines")
        origin, size, root, *extensions = lines
        if len(size) > 20 or not _SIZE.fullmatch(size):
            raise NoteError(f"checkpoint size {size!r} is not a decimal without leading zeros")
        return cls(origin, int(size), _b64decode(root, "checkpoint root hash"), tuple(extensions))


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> str:
    """Return ``cp`` as a note signed by ``signer``."""
    return signer.sign(cp.body())


def open_checkpoint(note: str | bytes, verifier: Verifier, origin: str | None = None) -> Checkpoint:
    """Verify ``note`` was signed by ``verifier``, parse its checkpoint and check the origin if given.

    Raises:
        NoteError: The note or checkpoint is malformed, unsigned by ``verifier`` or has another origin.
    """
    cp = Checkpoint.parse(open_note(note, [verifier]).text)
    if origin is not None and cp.origin != origin:
        raise NoteError(f"checkpoint origin {cp.origin!r} is not the expected {origin!r}")
    return cp
