"""The vault's signers: capabilities that hold a private key and hand out only signatures.

* :class:`NoteSigner`: the log's C2SP signed-note key (checkpoints, promises), Ed25519.
* :class:`Cosigner`: a witness's ``cosignature/v1`` key, Ed25519.
* :class:`ReceiptSigner`: consent receipts as JWS (ES256) and the public JWK Set.

The bytes signed and the lines written come from :mod:`tlog` (pure, shared with every verifier), so
signing and verifying cannot drift apart. Loading the keys is :mod:`vault.crypto.signing`'s job.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.jwk import ECKey

from tlog import cosignature, note

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

    from tlog.note import Checkpoint

RECEIPT_TYPE = "consent-receipt+jwt"
"""The ``typ`` header of a consent receipt JWS."""


class Ed25519Backend(Protocol):
    """An Ed25519 key held elsewhere (a PKCS#11 token): it signs and shows its public half, nothing more."""

    def public_key_bytes(self) -> bytes:
        """The 32 raw bytes of the public key."""

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""


class NoteSigner:
    """A named Ed25519 signed-note key, in this process or behind an :class:`Ed25519Backend`."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey | Ed25519Backend) -> None:
        note.check_name(name)
        self.name = name
        self._key = private_key
        if isinstance(private_key, Ed25519PrivateKey):
            self._public = private_key.public_key().public_bytes_raw()
        else:
            self._public = private_key.public_key_bytes()
        self.key_id = note.key_id(name, self._public)

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        """Parse a Go-format private key string ``PRIVATE+KEY+<name>+<hex8 key id>+<base64 key>``.

        Raises:
            NoteError: The string is malformed or its key ID does not match the key.
        """
        name, key_id, seed = note.parse_skey(skey)
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        if signer.key_id != key_id:
            raise note.NoteError(f"signer key id {key_id:08x} does not match the key ({signer.key_id:08x})")
        return signer

    def vkey(self) -> str:
        """Return the verifier key string ``<name>+<hex8 key id>+<base64(0x01 || public key)>``."""
        return note.format_vkey(self.name, self._public)

    def signature_line(self, text: str) -> str:
        r"""Sign ``text`` and return just the signature line ``— <name> <base64(key id || sig)>\n``."""
        return note.signature_line(self.name, self.key_id, self._key.sign(note.signed_message(text)))

    def sign(self, text: str) -> str:
        """Sign ``text`` (which must end in a newline) and return the complete signed note."""
        return note.signed_note(text, self.signature_line(text))


def sign_checkpoint(cp: Checkpoint, signer: NoteSigner) -> str:
    """Return ``cp`` as a note signed by ``signer``."""
    return signer.sign(cp.body())


def add_signature(signed: str, signer: NoteSigner) -> str:
    """Cosign a well-formed signed note: append ``signer``'s signature line (replacing an older one).

    Existing signatures are not verified; callers should :func:`tlog.note.open_note` the note first.

    Raises:
        NoteError: The note is malformed or would exceed the size or signature limits.
    """
    line = signer.signature_line(note.note_text(signed))
    return note.with_signature(signed, signer.name, signer.key_id, line)


class Cosigner:
    """A witness's named Ed25519 key, signing ``cosignature/v1`` lines."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        note.check_name(name)
        self.name = name
        self._key = private_key
        self.public_bytes = private_key.public_key().public_bytes_raw()
        self.key_id = cosignature.key_id(name, self.public_bytes)

    def vkey(self) -> str:
        """The verifier key ``<name>+<hex8 key id>+<base64(0x04 || public key)>``."""
        return cosignature.format_vkey(self.name, self.public_bytes)

    def signature_line(self, text: str, timestamp: int) -> str:
        r"""Cosign a checkpoint's note ``text`` as of ``timestamp``: ``— <name> <base64>\n``."""
        sig = self._key.sign(cosignature.signed_message(text, timestamp))
        return cosignature.signature_line(self.name, self.key_id, timestamp, sig)


class ReceiptSigner:
    """Signs consent receipts (JWS, ES256) and publishes the public key as a JWK Set."""

    def __init__(self, key: EllipticCurvePrivateKey, issuer: str) -> None:
        self.key = ECKey.import_key(key)
        self.kid = self.key.thumbprint()
        self.issuer = issuer

    def jwks(self) -> dict[str, Any]:
        """The public key set for ``/oauth/jwks``."""
        public = self.key.as_dict(private=False)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "ES256"}]}

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS over ``claims``."""
        header = {"alg": "ES256", "kid": self.kid, "typ": RECEIPT_TYPE}
        return jws.serialize_compact(
            header, json.dumps(claims, sort_keys=True).encode(), self.key, algorithms=["ES256"]
        )

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a receipt this vault signed (:class:`ValueError` otherwise)."""
        try:
            obj = jws.deserialize_compact(token, self.key, algorithms=["ES256"])
        except Exception as exc:
            raise ValueError("not a receipt signed by this vault") from exc
        claims: dict[str, Any] = json.loads(obj.payload)
        return claims
