"""Keys of the vault at identity providers: sealed under the ``idp-secrets`` service secret, used only here.

Each provider's secret (a client secret, or the PEM private key the vault signs its client assertions
or SAML AuthnRequests with) is sealed with :mod:`vault.crypto.aead` under the 32-byte ``idp-secrets``
service secret, with the provider id as associated data: a sealed secret copied to another provider's
row does not open. The stored format is ``aead`` key version 1, context
``("identity-provider", <provider id>, "secret")``; a SAML provider's secret is its PEM key followed
by its PEM certificate.

The private keys inside are used through capabilities: :class:`ClientKey` signs ``private_key_jwt``
client assertions, :class:`SamlKey` signs AuthnRequests and decrypts assertions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from vault.crypto import aead

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.padding import OAEP

_KEY_VERSION = 1
#: Signing algorithm of a client assertion per key type of the vault's private key.
CLIENT_KEY_ALGS = {"EC": "ES256", "RSA": "PS256", "OKP": "EdDSA"}
_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


class ClientKey:
    """The vault's ``private_key_jwt`` key at an OIDC provider: signs JWTs, never shows the private key."""

    __slots__ = ("_key", "alg")

    def __init__(self, pem: bytes) -> None:
        """Load ``pem``.

        Raises:
            ValueError: not an unencrypted PEM private key, or not EC P-256, RSA >= 2048 bits or Ed25519.
        """
        try:
            private = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ValueError("not an unencrypted PEM private key") from None
        key: ECKey | RSAKey | OKPKey
        if isinstance(private, ec.EllipticCurvePrivateKey):
            if not isinstance(private.curve, ec.SECP256R1):
                raise ValueError("EC keys must be on P-256")
            key = ECKey.import_key(pem)
        elif isinstance(private, rsa.RSAPrivateKey):
            if private.key_size < 2048:
                raise ValueError("RSA keys must have at least 2048 bits")
            key = RSAKey.import_key(pem)
        elif isinstance(private, ed25519.Ed25519PrivateKey):
            key = OKPKey.import_key(pem)
        else:
            raise ValueError("unsupported key type")
        self._key = key
        self.alg = CLIENT_KEY_ALGS[key.key_type]

    def sign_jwt(self, claims: dict[str, Any]) -> str:
        """A compact JWT over ``claims``: header ``alg``, ``typ: JWT`` and the key's ``kid`` (or thumbprint)."""
        header = {"alg": self.alg, "typ": "JWT", "kid": self._key.kid or self._key.thumbprint()}
        return jwt.encode(header, claims, self._key, algorithms=[self.alg])


class SamlKey:
    """The vault's RSA key as a SAML service provider: signs AuthnRequests and decrypts assertions.

    The PEM is parsed on first use (a response without an encrypted assertion never needs it).
    """

    __slots__ = ("_loaded", "_pem")

    def __init__(self, pem: bytes) -> None:
        self._pem = pem
        self._loaded: rsa.RSAPrivateKey | None = None

    def _rsa(self) -> rsa.RSAPrivateKey:
        if self._loaded is None:
            key = serialization.load_pem_private_key(self._pem, password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError("the SP key must be RSA")
            self._loaded = key
        return self._loaded

    def sign(self, data: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256 (``rsa-sha256``) over ``data``."""
        return self._rsa().sign(data, padding.PKCS1v15(), hashes.SHA256())

    def decrypt(self, ciphertext: bytes, oaep: OAEP) -> bytes:
        """RSA-OAEP decryption of a key transported to this SP."""
        return self._rsa().decrypt(ciphertext, oaep)


def new_saml_key(common_name: str) -> tuple[bytes, bytes]:
    """A fresh RSA-2048 key and a self-signed certificate for it (ten years), both PEM: a SAML provider's secret."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)


def split_saml_secret(secret: bytes) -> tuple[bytes, bytes]:
    """The sealed secret of a SAML provider: PEM key, then PEM certificate."""
    at = secret.find(_CERTIFICATE)
    if at <= 0:
        raise ValueError("a SAML provider's secret holds a PEM key and a PEM certificate")
    return secret[:at], secret[at:]


class ProviderSecrets:
    """Seals and opens identity providers' secrets; the key stays inside."""

    __slots__ = ("_cipher",)

    def __init__(self, key: bytes) -> None:
        if len(key) != aead.KEY_BYTES:
            raise ValueError("the idp-secrets key must be 32 bytes")
        self._cipher = aead.Cipher(key)

    def seal(self, provider_id: str, secret: bytes) -> bytes:
        """``secret`` sealed for the provider ``provider_id``."""
        return self._cipher.seal(secret, _context(provider_id), key_version=_KEY_VERSION)

    def open(self, provider_id: str, sealed: bytes) -> bytes:
        """The secret; :class:`~vault.crypto.aead.InvalidCiphertext` if tampered or another provider's."""
        return self._cipher.open(sealed, _context(provider_id))

    def client_key(self, provider_id: str, sealed: bytes) -> ClientKey:
        """The provider's ``private_key_jwt`` key (``InvalidCiphertext``, or ``ValueError`` if unusable)."""
        return ClientKey(self.open(provider_id, sealed))

    def saml_key(self, provider_id: str, sealed: bytes) -> SamlKey:
        """The vault's SP key at a SAML provider (``InvalidCiphertext``, or ``ValueError`` if malformed)."""
        key_pem, _ = split_saml_secret(self.open(provider_id, sealed))
        return SamlKey(key_pem)

    def saml_certificate(self, provider_id: str, sealed: bytes) -> bytes:
        """The PEM certificate of the vault's SP key at a SAML provider."""
        _, cert_pem = split_saml_secret(self.open(provider_id, sealed))
        return cert_pem


def _context(provider_id: str) -> aead.Context:
    return aead.Context("identity-provider", provider_id, "secret")
