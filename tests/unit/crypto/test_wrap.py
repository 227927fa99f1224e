"""Known answers and tamper resistance of ``vault.crypto.wrap`` (AES-KWP, RFC 5649)."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding, aes_key_wrap_with_padding

from vault.crypto.wrap import UnwrapError, unwrap, wrap

# RFC 5649, section 6 ("Padded Key Wrap Examples"): both examples use the same 192-bit KEK.
RFC5649_KEK = bytes.fromhex("5840df6e29b02af1ab493b70 5bf16ea1ae8338f4dcc176a8")
RFC5649_VECTORS = [
    pytest.param(
        bytes.fromhex("c37b7e6492584340bed12207 808941155068f738"),
        bytes.fromhex("138bdeaa9b8fa7fc61f97742e72248ee 5ae6ae5360d1ae6a5f54f373fa543b6a"),
        id="20-octet-key",
    ),
    pytest.param(
        bytes.fromhex("466f7250617369"),  # "ForPasi"
        bytes.fromhex("afbeb0f07dfbf5419200f2ccb50bb24f"),
        id="7-octet-key",
    ),
]


def assert_unwrap_rejected(kek: bytes, wrapped: bytes) -> UnwrapError:
    with pytest.raises(UnwrapError) as info:
        unwrap(kek, wrapped)
    exc = info.value
    assert type(exc) is UnwrapError
    assert exc.args == ("cannot unwrap key",)  # one constant message, nothing about the cause
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__
    return exc


@pytest.mark.parametrize(("key", "wrapped"), RFC5649_VECTORS)
def test_rfc5649_vectors(key: bytes, wrapped: bytes) -> None:
    # The primitive itself reproduces the RFC ...
    assert aes_key_wrap_with_padding(RFC5649_KEK, key) == wrapped
    assert aes_key_unwrap_with_padding(RFC5649_KEK, wrapped) == key
    # ... and our wrapper is exactly that primitive.
    assert wrap(RFC5649_KEK, key) == wrapped
    assert unwrap(RFC5649_KEK, wrapped) == key


def test_256_bit_kek_round_trip_of_a_32_byte_key() -> None:
    kek, key = os.urandom(32), os.urandom(32)
    wrapped = wrap(kek, key)
    assert len(wrapped) == 40  # 32 bytes + the 8-byte integrity block, no padding needed
    assert wrapped == aes_key_wrap_with_padding(kek, key)
    assert unwrap(kek, wrapped) == key


def test_wrapping_is_deterministic() -> None:
    kek, key = os.urandom(32), os.urandom(32)
    assert wrap(kek, key) == wrap(kek, key)


@pytest.fixture(
    params=[
        pytest.param((RFC5649_KEK, bytes.fromhex("c37b7e6492584340bed12207808941155068f738")), id="rfc-20-octet"),
        pytest.param((RFC5649_KEK, bytes.fromhex("466f7250617369")), id="rfc-7-octet"),
        pytest.param((os.urandom(32), os.urandom(32)), id="kek256-key256"),
    ]
)
def wrapped_key(request: pytest.FixtureRequest) -> tuple[bytes, bytes]:
    """``(kek, wrapped)``."""
    kek, key = request.param
    return kek, wrap(kek, key)


def test_every_single_bit_flip_is_rejected(wrapped_key: tuple[bytes, bytes]) -> None:
    kek, wrapped = wrapped_key
    for bit in range(len(wrapped) * 8):
        tampered = bytearray(wrapped)
        tampered[bit // 8] ^= 1 << (bit % 8)
        assert_unwrap_rejected(kek, bytes(tampered))


def test_every_truncation_is_rejected(wrapped_key: tuple[bytes, bytes]) -> None:
    kek, wrapped = wrapped_key
    for length in range(len(wrapped)):
        assert_unwrap_rejected(kek, wrapped[:length])


@pytest.mark.parametrize("extra", [b"\x00", bytes(8), os.urandom(8)], ids=["1-byte", "8-zero-bytes", "8-random-bytes"])
def test_appended_bytes_are_rejected(wrapped_key: tuple[bytes, bytes], extra: bytes) -> None:
    kek, wrapped = wrapped_key
    assert_unwrap_rejected(kek, wrapped + extra)


def test_wrong_kek_is_rejected(wrapped_key: tuple[bytes, bytes]) -> None:
    kek, wrapped = wrapped_key
    assert_unwrap_rejected(os.urandom(len(kek)), wrapped)
    assert_unwrap_rejected(bytes(b ^ 0x80 for b in kek), wrapped)
    assert_unwrap_rejected(os.urandom(32 if len(kek) != 32 else 24), wrapped)


@pytest.mark.parametrize("length", [0, 15, 31, 33])
def test_kek_of_invalid_length_is_rejected(wrapped_key: tuple[bytes, bytes], length: int) -> None:
    _, wrapped = wrapped_key
    assert_unwrap_rejected(os.urandom(length), wrapped)
