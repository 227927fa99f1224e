"""Known answers, tamper resistance and nonce uniqueness of ``vault.crypto.aead``.

Published vectors prove the primitives; a second assertion per vector pins one complete vault-format
ciphertext (header | nonce | ciphertext + tag, AAD = header || context) so a format change is caught.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from nacl import bindings

from vault.crypto import aead
from vault.crypto.aead import Context, InvalidCiphertext, Suite, parse_header, seal, seal_with_nonce

CTX = Context("citizen-0001", "record-0001", "email", 1)
KEY_VERSION = 7
HEADER_BYTES = 6  # version (1) | suite (1) | key version (4)
TAG_BYTES = 16


def vault_header(suite: Suite, key_version: int) -> bytes:
    """The documented header, built independently of the module's struct."""
    return bytes([1, suite]) + key_version.to_bytes(4, "big")


def primitive(suite: Suite, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """The raw AEAD, called directly: ciphertext || tag."""
    if suite is Suite.A256GCM:
        return AESGCM(key).encrypt(nonce, plaintext, aad)
    return bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, key)


@dataclass(frozen=True)
class Vector:
    name: str
    suite: Suite
    key: bytes
    nonce: bytes
    aad: bytes
    plaintext: bytes
    sealed: bytes  # published ciphertext || tag
    vault: bytes  # our format, same key/nonce/plaintext, context CTX, key version 7 (generated once, pinned)


# The Galois/Counter Mode of Operation (GCM), McGrew & Viega, appendix B, Test Case 16
# (AES-256, 96-bit IV, 60-byte plaintext, 20-byte AAD).
GCM_SPEC_TC16 = Vector(
    name="gcm-spec-tc16",
    suite=Suite.A256GCM,
    key=bytes.fromhex("feffe9928665731c6d6a8f9467308308 feffe9928665731c6d6a8f9467308308"),
    nonce=bytes.fromhex("cafebabefacedbaddecaf888"),
    aad=bytes.fromhex("feedfacedeadbeeffeedfacedeadbeef abaddad2"),
    plaintext=bytes.fromhex(
        "d9313225f88406e5a55909c5aff5269a 86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525 b16aedf5aa0de657ba637b39"
    ),
    sealed=bytes.fromhex(
        "522dc1f099567d07f47f37a32a84427d 643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838 c5f61e6393ba7a0abcc9f662"
        "76fc6ece0f4e1768cddf8853bb2d551b"  # tag
    ),
    vault=bytes.fromhex(
        "01 01 00000007"  # format version, suite A256GCM, key version 7
        "cafebabefacedbaddecaf888"  # nonce
        "522dc1f099567d07f47f37a32a84427d 643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838 c5f61e6393ba7a0abcc9f662"
        "d8d6f48d52395dfe0f33aeb17b84b93f"  # tag over our AAD
    ),
)

# NIST CAVP GCMVS, gcmEncryptExtIV256.rsp, [Keylen = 256] [IVlen = 96] [PTlen = 128] [AADlen = 160]
# [Taglen = 128], Count = 0.
CAVP_GCM256_IV96 = Vector(
    name="cavp-gcmEncryptExtIV256",
    suite=Suite.A256GCM,
    key=bytes.fromhex("83688deb4af8007f9b713b47cfa6c73e 35ea7a3aa4ecdb414dded03bf7a0fd3a"),
    nonce=bytes.fromhex("0b459724904e010a46901cf3"),
    aad=bytes.fromhex("794a14ccd178c8ebfd1379dc704c5e20 8f9d8424"),
    plaintext=bytes.fromhex("33d893a2114ce06fc15d55e454cf90c3"),
    sealed=bytes.fromhex(
        "cc66bee423e3fcd4c0865715e95866960fb291bd3dba94a1dfd8b286cfb97ac5"  # tag
    ),
    vault=bytes.fromhex(
        "01 01 00000007"  # format version, suite A256GCM, key version 7
        "0b459724904e010a46901cf3"  # nonce
        "cc66bee423e3fcd4c0865715e9586696"
        "c92aa1afcaa5c73e600a7a815befb3d3"  # tag over our AAD
    ),
)

# draft-irtf-cfrg-xchacha-03, appendix A.3.1 (AEAD_XChaCha20_Poly1305 test vector).
XCHACHA_DRAFT_A31 = Vector(
    name="draft-irtf-cfrg-xchacha-A.3.1",
    suite=Suite.XC20P,
    key=bytes.fromhex("808182838485868788898a8b8c8d8e8f 909192939495969798999a9b9c9d9e9f"),
    nonce=bytes.fromhex("404142434445464748494a4b4c4d4e4f 5051525354555657"),
    aad=bytes.fromhex("50515253c0c1c2c3c4c5c6c7"),
    plaintext=(
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future,"
        b" sunscreen would be it."
    ),
    sealed=bytes.fromhex(
        "bd6d179d3e83d43b9576579493c0e939 572a1700252bfaccbed2902c21396cbb"
        "731c7f1b0b4aa6440bf3a82f4eda7e39 ae64c6708c54c216cb96b72e1213b452"
        "2f8c9ba40db5d945b11b69b982c1bb9e 3f3fac2bc369488f76b2383565d3fff9"
        "21f9664c97637da9768812f615c68b13 b52e"
        "c0875924c1c7987947deafd8780acf49"  # tag
    ),
    vault=bytes.fromhex(
        "01 02 00000007"  # format version, suite XC20P, key version 7
        "404142434445464748494a4b4c4d4e4f 5051525354555657"  # nonce
        "bd6d179d3e83d43b9576579493c0e939 572a1700252bfaccbed2902c21396cbb"
        "731c7f1b0b4aa6440bf3a82f4eda7e39 ae64c6708c54c216cb96b72e1213b452"
        "2f8c9ba40db5d945b11b69b982c1bb9e 3f3fac2bc369488f76b2383565d3fff9"
        "21f9664c97637da9768812f615c68b13 b52e"
        "09ac96bb0f7236b0123f2c15d82eea4d"  # tag over our AAD
    ),
)

VECTORS = [GCM_SPEC_TC16, CAVP_GCM256_IV96, XCHACHA_DRAFT_A31]
by_name = pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)
both_suites = pytest.mark.parametrize("suite", list(Suite), ids=lambda s: s.name)


# --- known answers -------------------------------------------------------------------------------


@by_name
def test_primitive_reproduces_the_published_vector(vector: Vector) -> None:
    assert primitive(vector.suite, vector.key, vector.nonce, vector.plaintext, vector.aad) == vector.sealed


@by_name
def test_vault_format_wraps_the_primitive_exactly(vector: Vector) -> None:
    header = vault_header(vector.suite, KEY_VERSION)
    expected = (
        header
        + vector.nonce
        + primitive(vector.suite, vector.key, vector.nonce, vector.plaintext, header + CTX.encode())
    )

    sealed = seal_with_nonce(
        vector.key, vector.plaintext, CTX, key_version=KEY_VERSION, suite=vector.suite, nonce=vector.nonce
    )

    assert sealed == expected
    assert sealed == vector.vault
    # Both suites are stream ciphers: the body matches the published one, only the tag depends on the AAD.
    assert sealed[HEADER_BYTES + vector.suite.nonce_bytes : -TAG_BYTES] == vector.sealed[:-TAG_BYTES]
    assert sealed[-TAG_BYTES:] != vector.sealed[-TAG_BYTES:]


@by_name
def test_pinned_vault_ciphertext_opens(vector: Vector) -> None:
    assert parse_header(vector.vault) == (1, vector.suite, KEY_VERSION)
    assert aead.open(vector.key, vector.vault, CTX) == vector.plaintext


def test_context_encoding_is_pinned() -> None:
    assert CTX.encode() == bytes.fromhex(
        "0000000d" + b"vault-aead/v1".hex()
        + "0000000c" + b"citizen-0001".hex()
        + "0000000b" + b"record-0001".hex()
        + "00000005" + b"email".hex()
        + "00000001" + b"1".hex()
    )  # fmt: skip


@both_suites
@pytest.mark.parametrize("plaintext", [b"", b"x", os.urandom(1000)], ids=["empty", "one-byte", "1000-bytes"])
def test_round_trip(suite: Suite, plaintext: bytes) -> None:
    key = os.urandom(32)
    sealed = seal(key, plaintext, CTX, key_version=2**32 - 1, suite=suite)
    assert len(sealed) == HEADER_BYTES + suite.nonce_bytes + len(plaintext) + TAG_BYTES
    assert parse_header(sealed) == (1, suite, 2**32 - 1)
    assert aead.open(key, sealed, CTX) == plaintext


def test_a256gcm_is_the_default_suite() -> None:
    sealed = seal(os.urandom(32), b"data", CTX, key_version=1)
    assert parse_header(sealed)[1] is Suite.A256GCM


@both_suites
@pytest.mark.parametrize(("key_len", "nonce_delta"), [(31, 0), (33, 0), (32, -1), (32, 1)])
def test_seal_rejects_bad_key_or_nonce_length(suite: Suite, key_len: int, nonce_delta: int) -> None:
    with pytest.raises(ValueError):
        seal_with_nonce(
            bytes(key_len), b"x", CTX, key_version=1, suite=suite, nonce=bytes(suite.nonce_bytes + nonce_delta)
        )


# --- tampering: every failure is the same opaque InvalidCiphertext --------------------------------


def assert_rejected(key: bytes, ciphertext: bytes, context: Context = CTX) -> None:
    with pytest.raises(InvalidCiphertext) as info:
        aead.open(key, ciphertext, context)
    exc = info.value
    assert type(exc) is InvalidCiphertext
    assert exc.args == ()
    assert str(exc) == ""
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


@pytest.fixture(params=list(Suite), ids=lambda s: s.name)
def sealed(request: pytest.FixtureRequest, key: bytes) -> bytes:
    """A 40-byte plaintext sealed for CTX under ``key``."""
    return seal(key, b"0123456789" * 4, CTX, key_version=KEY_VERSION, suite=request.param)


def test_sealed_fixture_opens(key: bytes, sealed: bytes) -> None:
    assert aead.open(key, sealed, CTX) == b"0123456789" * 4


def test_every_single_bit_flip_is_rejected(key: bytes, sealed: bytes) -> None:
    for bit in range(len(sealed) * 8):
        tampered = bytearray(sealed)
        tampered[bit // 8] ^= 1 << (bit % 8)
        assert_rejected(key, bytes(tampered))


def test_every_truncation_is_rejected(key: bytes, sealed: bytes) -> None:
    for length in range(len(sealed)):
        assert_rejected(key, sealed[:length])


@pytest.mark.parametrize("extra", [b"\x00", b"\xff" * 16, b"trailing garbage"])
def test_appended_bytes_are_rejected(key: bytes, sealed: bytes, extra: bytes) -> None:
    assert_rejected(key, sealed + extra)


def test_wrong_key_is_rejected(key: bytes, sealed: bytes) -> None:
    assert_rejected(os.urandom(32), sealed)
    assert_rejected(bytes(a ^ 1 for a in key), sealed)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_key_of_wrong_length_is_rejected(sealed: bytes, length: int) -> None:
    assert_rejected(os.urandom(length), sealed)


@pytest.mark.parametrize(
    "moved",
    [
        dataclasses.replace(CTX, citizen="citizen-0002"),
        dataclasses.replace(CTX, record="record-0002"),
        dataclasses.replace(CTX, field="phone"),
        dataclasses.replace(CTX, schema=2),
        Context("", "", ""),
    ],
    ids=["citizen", "record", "field", "schema", "empty"],
)
def test_ciphertext_moved_to_another_context_is_rejected(key: bytes, sealed: bytes, moved: Context) -> None:
    assert_rejected(key, sealed, moved)


def test_edited_key_version_is_rejected(key: bytes, sealed: bytes) -> None:
    for version in (0, KEY_VERSION - 1, KEY_VERSION + 1, 2**32 - 1):
        assert_rejected(key, sealed[:2] + version.to_bytes(4, "big") + sealed[HEADER_BYTES:])


def test_relabelled_suite_is_rejected(key: bytes, sealed: bytes) -> None:
    other = Suite.XC20P if sealed[1] == Suite.A256GCM else Suite.A256GCM
    assert_rejected(key, sealed[:1] + bytes([other]) + sealed[2:])


def test_spliced_ciphertexts_are_rejected(key: bytes, sealed: bytes) -> None:
    suite = Suite(sealed[1])
    other = seal(key, b"0123456789" * 4, CTX, key_version=KEY_VERSION, suite=suite)
    split = HEADER_BYTES + suite.nonce_bytes
    assert_rejected(key, sealed[:split] + other[split:])  # nonce of one, body of the other
    assert_rejected(key, sealed[:-TAG_BYTES] + other[-TAG_BYTES:])  # tag of the other


# --- Context encoding is injective -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Context("a", "bc", "d"), Context("ab", "c", "d")),
        (Context("a", "b", "cd"), Context("a", "bc", "d")),
        (Context("", "ab", "c"), Context("a", "", "bc")),
        (Context("a", "b", "c1", 1), Context("a", "b", "c", 11)),
        (Context("a", "b", "c", 1), Context("a", "b", "c", 10)),
        (Context("a\x00\x00\x00\x01b", "c", "d"), Context("a", "b", "c\x00\x00\x00\x01d")),
        (Context("a|b", "c", "d"), Context("a", "b|c", "d")),
    ],
)
def test_shifting_characters_between_parts_changes_the_encoding(a: Context, b: Context) -> None:
    assert a.encode() != b.encode()


# A small alphabet (NUL, length-prefix-like bytes, likely separators, non-ASCII) makes near-collisions likely.
parts = st.text(alphabet="ab\x00\x01\x04|:/é€", max_size=8)
contexts = st.builds(Context, parts, parts, parts, st.integers(min_value=-5, max_value=200))


@settings(max_examples=300, deadline=None)
@given(a=contexts, b=contexts)
def test_different_contexts_never_encode_equal(a: Context, b: Context) -> None:
    assume(a != b)
    assert a.encode() != b.encode()


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet="ab\x00\x01|:é", max_size=12),
    cuts=st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 12), st.integers(0, 12)),
)
def test_resplitting_the_same_characters_never_encodes_equal(text: str, cuts: tuple[int, int, int, int]) -> None:
    i, j = sorted(min(c, len(text)) for c in cuts[:2])
    k, m = sorted(min(c, len(text)) for c in cuts[2:])
    assume((i, j) != (k, m))
    a = Context(text[:i], text[i:j], text[j:])
    b = Context(text[:k], text[k:m], text[m:])
    assert a.encode() != b.encode()


# --- nonces ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suite", "count"), [(Suite.A256GCM, 10**6), (Suite.XC20P, 10**5)], ids=["A256GCM-1e6", "XC20P-1e5"]
)
def test_random_nonces_do_not_repeat(suite: Suite, count: int) -> None:
    key = os.urandom(32)
    start, end = HEADER_BYTES, HEADER_BYTES + suite.nonce_bytes
    nonces = {seal(key, b"", CTX, key_version=1, suite=suite)[start:end] for _ in range(count)}
    assert len(nonces) == count
    assert all(len(n) == suite.nonce_bytes for n in nonces)


# --- parse_header ----------------------------------------------------------------------------------


def assert_header_rejected(data: bytes) -> None:
    with pytest.raises(InvalidCiphertext) as info:
        parse_header(data)
    assert str(info.value) == ""


@pytest.mark.parametrize("version", [0, 2, 0x81, 255])
def test_parse_header_rejects_unknown_version(sealed: bytes, version: int) -> None:
    assert_header_rejected(bytes([version]) + sealed[1:])


@pytest.mark.parametrize("suite_id", [0, 3, 0x81, 255])
def test_parse_header_rejects_unknown_suite(sealed: bytes, suite_id: int) -> None:
    assert_header_rejected(sealed[:1] + bytes([suite_id]) + sealed[2:])


@both_suites
def test_parse_header_rejects_too_short_input(suite: Suite) -> None:
    minimum = HEADER_BYTES + suite.nonce_bytes + TAG_BYTES
    candidate = vault_header(suite, KEY_VERSION) + bytes(minimum)
    for length in range(minimum):
        assert_header_rejected(candidate[:length])
    # The boundary: a header, a nonce and a bare tag parse (empty plaintext), but of course do not open.
    assert parse_header(candidate[:minimum]) == (1, suite, KEY_VERSION)
    assert_rejected(os.urandom(32), candidate[:minimum])
