"""XML Encryption of an assertion, as BundID sends it (the test provider's side; in memory, ``cryptography``).

:func:`encrypt_assertion_to` makes a ``saml:EncryptedAssertion``: a fresh AES key (GCM or CBC)
encrypts the serialized, signed assertion; RSA-OAEP to the SP's encryption certificate carries the key
in an ``EncryptedKey`` inside the ``EncryptedData``'s ``KeyInfo`` (the layout ``xmlsec1`` reads).
PKCS#1 v1.5 key transport and AES-192 are there only so tests can show the vault refuses them.
"""

from __future__ import annotations

import base64
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.identity import saml_checks as names
from vault.identity import saml_encryption as xenc

#: Key transport PKCS#1 v1.5: never accepted by the vault; the IdP can send it so tests can show that.
RSA_1_5 = xenc.XENC + "rsa-1_5"
#: AES-192-GCM: well formed, but not on the vault's allow-list.
AES192_GCM = xenc.XENC11 + "aes192-gcm"
_CONTENT_KEY_BYTES = {**xenc.CONTENT_ENCRYPTION, AES192_GCM: 24}


def _wrap_key(public: rsa.RSAPublicKey, key: bytes, key_transport: str) -> tuple[bytes, str]:
    """The session key encrypted for ``public``, and the EncryptionMethod's parameters."""
    if key_transport == xenc.RSA_OAEP_MGF1P:
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303
        return public.encrypt(key, oaep), ""
    if key_transport == xenc.RSA_OAEP:
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        params = (
            f'<ds:DigestMethod Algorithm="{xenc.XENC}sha256"/>'
            f'<xenc11:MGF xmlns:xenc11="{xenc.XENC11}" Algorithm="{xenc.XENC11}mgf1sha256"/>'
        )
        return public.encrypt(key, oaep), params
    if key_transport == RSA_1_5:
        return public.encrypt(key, padding.PKCS1v15()), ""
    raise ValueError(f"unknown key transport {key_transport!r}")


def _encrypt_content(content: str, key: bytes, plaintext: bytes) -> bytes:
    if content.endswith("-gcm"):
        iv = os.urandom(12)
        return iv + AESGCM(key).encrypt(iv, plaintext, None)
    pad = 16 - len(plaintext) % 16
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return iv + encryptor.update(plaintext + os.urandom(pad - 1) + bytes([pad])) + encryptor.finalize()


def encrypt_assertion_to(
    assertion_xml: bytes,
    cert_pem: bytes,
    *,
    key_transport: str = xenc.RSA_OAEP_MGF1P,
    content: str = xenc.AES256_GCM,
) -> str:
    """A ``saml:EncryptedAssertion`` holding ``assertion_xml`` (XML Encryption 1.1, ``Type=Element``).

    A fresh AES key encrypts the assertion; RSA-OAEP (or, for refusal tests, PKCS#1 v1.5) to the
    certificate's key carries it in an ``EncryptedKey`` inside the ``EncryptedData``'s ``KeyInfo``.
    """
    public = x509.load_pem_x509_certificate(cert_pem).public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise ValueError("the SP's encryption certificate must hold an RSA key")
    if content not in _CONTENT_KEY_BYTES:
        raise ValueError(f"unknown content encryption {content!r}")
    key = os.urandom(_CONTENT_KEY_BYTES[content])
    wrapped, params = _wrap_key(public, key, key_transport)
    blob = _encrypt_content(content, key, assertion_xml)
    return (
        f'<saml:EncryptedAssertion xmlns:saml="{names.SAML}">'
        f'<xenc:EncryptedData xmlns:xenc="{xenc.XENC}" Type="{xenc.ELEMENT_TYPE}">'
        f'<xenc:EncryptionMethod Algorithm="{content}"/>'
        f'<ds:KeyInfo xmlns:ds="{names.DS}"><xenc:EncryptedKey>'
        f'<xenc:EncryptionMethod Algorithm="{key_transport}">{params}</xenc:EncryptionMethod>'
        f"<xenc:CipherData><xenc:CipherValue>{base64.b64encode(wrapped).decode()}</xenc:CipherValue>"
        "</xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>"
        f"<xenc:CipherData><xenc:CipherValue>{base64.b64encode(blob).decode()}</xenc:CipherValue>"
        "</xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"
    )
