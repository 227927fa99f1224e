"""Encrypted SAML assertions (XML Encryption 1.1), decrypted in memory with ``cryptography`` (pure: no I/O).

BundID encrypts each assertion to the SP's encryption certificate: the response carries one
``saml:EncryptedAssertion`` whose ``xenc:EncryptedData`` holds the signed ``saml:Assertion``, under a
fresh AES key that an ``xenc:EncryptedKey`` carries RSA-OAEP-encrypted. :func:`plain_response` turns
such a response into the plain response the IdP would have sent unencrypted, so that the decrypted
assertion then passes *exactly* the gates a plain one passes (:mod:`vault.identity.saml_checks` and
pysaml2's signature check). Rules here, before that:

- exactly one ``EncryptedAssertion``, a direct child of the ``Response``, and no plain ``Assertion``
  anywhere beside it; exactly one ``EncryptedKey`` (in the ``EncryptedData``'s ``KeyInfo`` or beside it);
- algorithms from an allow-list only: key transport ``rsa-oaep-mgf1p`` or ``xmlenc11#rsa-oaep``
  (digest SHA-1/-256/-384/-512, MGF1 with the same family), content ``aes128-gcm``, ``aes256-gcm``,
  ``aes128-cbc``, ``aes256-cbc``; RSA PKCS#1 v1.5 key transport (``rsa-1_5``, Bleichenbacher), 3DES,
  ``CipherReference`` and anything else are refused;
- the decrypted text is refused if it carries a document type declaration, does not parse on its own,
  or is not one ``saml:Assertion``.

The response's own signature, if any, covered the *encrypted* assertion and cannot be checked on the
plain one: it is dropped. Nothing is lost: the vault never requires it (an attacker could strip it
from a plain response too); what is trusted is the assertion's own signature, checked after this.
Every refusal is ``IdentityError("invalid_assertion")`` with the same code whatever failed (wrong key,
bad padding, bad tag, bad XML), so the ACS is no decryption oracle beyond timing; CBC has no integrity
of its own (GCM is preferred, listed first in the SP metadata), which is why the decrypted assertion's
signature is required.

Residual risks, as the attacker review of issue #19 noted them (accepted, not fixed):

- One key, two uses. The SP's RSA key signs the AuthnRequests (PKCS#1 v1.5 signatures, rsa-sha256)
  and decrypts the key transport. That is acceptable only because PKCS#1 v1.5 *decryption* is refused:
  with ``rsa-1_5`` accepted, a Bleichenbacher-style oracle on the ACS could be turned into signatures
  under the SP key (forged AuthnRequests); OpenSSL's RSA-OAEP decryption offers no practical one.
  Keeping the one key keeps every provider registered before encryption working (its sealed secret
  holds one key). Allowing ``rsa-1_5`` later would need a second, encryption-only key first.
- CBC residue. ``aes128-cbc`` and ``aes256-cbc`` stay allowed (IdPs that cannot do GCM). A bad
  padding byte, a plaintext that does not parse and a wrong signature give the same code, but not in
  the same time: the first two fail in microseconds, the last only after ``xmlsec1`` ran. An attacker
  who measures the ACS's response time can tell them apart: an oracle on the plaintext in principle,
  as in Jager and Somorovsky's attack on XML Encryption's CBC mode (2011). What it could reveal is
  the plaintext of an assertion the attacker captured that was meant for this vault; it takes many
  thousands of POSTs, each consuming a freshly started sign-in (``RelayState`` is single use), so it
  is slow and loud but not prevented. It cannot forge an assertion: the decrypted assertion's own
  signature is required. An IdP that speaks GCM should be configured to use it.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.identity.model import IdentityError
from vault.identity.saml_checks import DS, SAML, SAMLP, parse_xml, refuse_dtd

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from vault.crypto.idp import SamlKey

XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"
XMLDSIG_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
ELEMENT_TYPE = XENC + "Element"

RSA_OAEP_MGF1P = XENC + "rsa-oaep-mgf1p"
RSA_OAEP = XENC11 + "rsa-oaep"
AES128_GCM = XENC11 + "aes128-gcm"
AES256_GCM = XENC11 + "aes256-gcm"
AES128_CBC = XENC + "aes128-cbc"
AES256_CBC = XENC + "aes256-cbc"

#: Key transport algorithms accepted, in the order the SP metadata lists them.
KEY_TRANSPORT = (RSA_OAEP, RSA_OAEP_MGF1P)
#: Content encryption algorithms accepted -> AES key length in bytes, in the order the SP metadata lists them.
CONTENT_ENCRYPTION = {AES256_GCM: 32, AES128_GCM: 16, AES256_CBC: 32, AES128_CBC: 16}

_DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    DS + "sha1": hashes.SHA1,
    XENC + "sha256": hashes.SHA256,
    XMLDSIG_MORE + "sha384": hashes.SHA384,
    XENC + "sha512": hashes.SHA512,
}
_MGFS: dict[str, type[hashes.HashAlgorithm]] = {
    XENC11 + "mgf1sha1": hashes.SHA1,
    XENC11 + "mgf1sha256": hashes.SHA256,
    XENC11 + "mgf1sha384": hashes.SHA384,
    XENC11 + "mgf1sha512": hashes.SHA512,
}
_GCM_IV, _GCM_TAG, _BLOCK = 12, 16, 16


def _refuse(detail: str) -> IdentityError:
    return IdentityError("invalid_assertion", detail)


def _one(parent: Element, path: str, what: str) -> Element:
    found = parent.findall(path)
    if len(found) != 1:
        raise _refuse(f"exactly one {what} is required")
    return found[0]


def _cipher_value(encrypted: Element) -> bytes:
    """The base64 ``CipherData/CipherValue`` of ``encrypted``; ``CipherReference`` is refused."""
    data = _one(encrypted, f"{{{XENC}}}CipherData", "CipherData")
    if len(data) != 1 or data[0].tag != f"{{{XENC}}}CipherValue":
        raise _refuse("only an inline CipherValue is accepted")
    text = "".join((data[0].text or "").split())
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _refuse("CipherValue is not base64") from exc


def _oaep(method: Element) -> padding.OAEP:
    """The OAEP parameters of an allowed key transport ``EncryptionMethod``."""
    algorithm = method.get("Algorithm")
    if algorithm not in KEY_TRANSPORT:
        raise _refuse("key transport algorithm not accepted")
    digest: type[hashes.HashAlgorithm] = hashes.SHA1
    mgf: type[hashes.HashAlgorithm] = hashes.SHA1
    label: bytes | None = None
    for child in method:
        uri = child.get("Algorithm", "")
        if child.tag == f"{{{DS}}}DigestMethod" and uri in _DIGESTS:
            digest = _DIGESTS[uri]
        elif child.tag == f"{{{XENC11}}}MGF" and algorithm == RSA_OAEP and uri in _MGFS:
            mgf = _MGFS[uri]
        elif child.tag == f"{{{XENC}}}OAEPparams":
            try:
                label = base64.b64decode("".join((child.text or "").split()), validate=True) or None
            except (binascii.Error, ValueError) as exc:
                raise _refuse("OAEPparams is not base64") from exc
        else:
            raise _refuse("key transport parameter not accepted")
    return padding.OAEP(mgf=padding.MGF1(mgf()), algorithm=digest(), label=label)


def _encrypted_key(encrypted_assertion: Element, data: Element) -> Element:
    keys = data.findall(f"{{{DS}}}KeyInfo/{{{XENC}}}EncryptedKey") + encrypted_assertion.findall(
        f"{{{XENC}}}EncryptedKey"
    )
    if len(keys) != 1:
        raise _refuse("exactly one EncryptedKey is required")
    return keys[0]


def _decrypt_content(algorithm: str, key: bytes, blob: bytes) -> bytes:
    if algorithm in (AES128_GCM, AES256_GCM):
        if len(blob) < _GCM_IV + _GCM_TAG:
            raise _refuse("ciphertext too short")
        return AESGCM(key).decrypt(blob[:_GCM_IV], blob[_GCM_IV:], None)
    if len(blob) < 2 * _BLOCK or len(blob) % _BLOCK:
        raise _refuse("ciphertext length is not whole blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(blob[:_BLOCK])).decryptor()
    padded = decryptor.update(blob[_BLOCK:]) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= _BLOCK:
        raise _refuse("bad padding")
    return padded[:-pad]  # XML Encryption padding: only the last byte is defined


def decrypt_assertion(encrypted_assertion: Element, key: SamlKey) -> bytes:
    """The plaintext (a serialized ``saml:Assertion``) of one ``saml:EncryptedAssertion``, with ``key``.

    Raises:
        IdentityError: ``invalid_assertion`` for an algorithm off the allow-list, a wrong key, a bad
            tag or padding, or a plaintext that is not exactly one ``saml:Assertion`` without a DTD.
    """
    data = _one(encrypted_assertion, f"{{{XENC}}}EncryptedData", "EncryptedData")
    if data.get("Type", ELEMENT_TYPE) != ELEMENT_TYPE:
        raise _refuse("only an encrypted element is accepted")
    content_algorithm = _one(data, f"{{{XENC}}}EncryptionMethod", "content EncryptionMethod").get("Algorithm", "")
    if content_algorithm not in CONTENT_ENCRYPTION:
        raise _refuse("content encryption algorithm not accepted")
    encrypted_key = _encrypted_key(encrypted_assertion, data)
    oaep = _oaep(_one(encrypted_key, f"{{{XENC}}}EncryptionMethod", "key transport EncryptionMethod"))
    wrapped, blob = _cipher_value(encrypted_key), _cipher_value(data)
    try:
        session_key = key.decrypt(wrapped, oaep)
        if len(session_key) != CONTENT_ENCRYPTION[content_algorithm]:
            raise ValueError("session key length does not fit the algorithm")
        plaintext = _decrypt_content(content_algorithm, session_key, blob)
    except IdentityError:
        raise
    except Exception as exc:  # cryptography raises ValueError, InvalidTag, ...: one answer for all
        raise _refuse("the assertion cannot be decrypted with this SP's key") from exc
    refuse_dtd(plaintext)
    if parse_xml(plaintext).tag != f"{{{SAML}}}Assertion":
        raise _refuse("the encrypted element is not an assertion")
    return plaintext.strip()


def _sp_key(key: SamlKey | None) -> SamlKey:
    if key is None:
        raise _refuse("an encrypted assertion, but no SP key to decrypt it")
    return key


def plain_response(xml: bytes, key: SamlKey | None) -> bytes:
    """``xml`` with its one ``EncryptedAssertion`` replaced by the decrypted ``Assertion``, byte for byte.

    A response without ``EncryptedAssertion`` is returned unchanged (the plain gates refuse any that
    is left). The envelope is re-serialized (it is checked again as a whole afterwards); the
    assertion's bytes are inserted exactly as decrypted, so its signature still verifies.

    Raises:
        IdentityError: ``invalid_assertion``: see the module's rules.
    """
    if b"EncryptedAssertion" not in xml:  # an element name cannot be written any other way
        return xml
    root = parse_xml(xml)
    if root.tag != f"{{{SAMLP}}}Response":
        raise _refuse("not a samlp:Response")
    encrypted = list(root.iter(f"{{{SAML}}}EncryptedAssertion"))
    if not encrypted:
        return xml  # the word in some text, not an element
    if len(encrypted) != 1 or encrypted[0] not in list(root):
        raise _refuse("exactly one encrypted assertion, directly inside the response, is accepted")
    if any(True for _ in root.iter(f"{{{SAML}}}Assertion")):
        raise _refuse("a plain assertion beside an encrypted one")
    plaintext = decrypt_assertion(encrypted[0], _sp_key(key))
    for signature in root.findall(f"{{{DS}}}Signature"):
        root.remove(signature)  # it signed the ciphertext; the assertion's own signature is checked next
    marker = f"vault-assertion-{secrets.token_hex(16)}"
    at = list(root).index(encrypted[0])
    root.remove(encrypted[0])
    root.insert(at, ET.Comment(marker))
    envelope = ET.tostring(root)  # ASCII, no XML declaration
    placeholder = f"<!--{marker}-->".encode()
    if envelope.count(placeholder) != 1:
        raise _refuse("the response cannot be rebuilt")
    return envelope.replace(placeholder, plaintext)
