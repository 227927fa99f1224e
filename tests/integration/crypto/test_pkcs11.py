"""The PKCS#11 root key and log signing key against a real SoftHSM2 token."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pkcs11
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11

from vault.crypto import wrap as software
from vault.crypto.kek import RootKeyError, RootKeyUnavailable
from vault.crypto.pkcs11 import (
    PIN_SETTING,
    ROOT_KEY_TEMPLATE,
    SETTING,
    Pkcs11Ed25519Signer,
    Pkcs11Location,
    Pkcs11RootKey,
    connection,
    init_ed25519_key,
    init_root_key,
    parse_setting,
    raw_ed25519_point,
    read_pin,
)
from vault.crypto.wrap import UnwrapError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from pkcs11.types import Session

    from tests.support.softhsm import SoftHsm


#: Uses the root key must not have (DESIGN §10 lists wrap, unwrap, encrypt, decrypt only).
OTHER_USES = (Attribute.SIGN, Attribute.VERIFY, Attribute.DERIVE)


@pytest.fixture
def location(softhsm: SoftHsm) -> Pkcs11Location:
    """A fresh root key in the ``vault`` token."""
    where = softhsm.location()
    init_root_key(where, softhsm.pin)
    return where


@pytest.fixture
def root(softhsm: SoftHsm, location: Pkcs11Location) -> Pkcs11RootKey:
    """The provider for :func:`location`'s key."""
    return Pkcs11RootKey(location, softhsm.pin)


def in_token(softhsm: SoftHsm, operation: Callable[[Session], Any]) -> Any:
    """Run ``operation`` on the ``vault`` token's session (the one the providers share)."""
    return connection(softhsm.location(), softhsm.pin).run(operation)


def import_aes_key(softhsm: SoftHsm, label: str, value: bytes, attrs: dict[Attribute, Any] | None = None) -> None:
    """Put a known AES key into the token (sensitive, non-extractable unless ``attrs`` say otherwise)."""
    template: dict[Attribute, Any] = {**ROOT_KEY_TEMPLATE, Attribute.CLASS: ObjectClass.SECRET_KEY}
    template[Attribute.KEY_TYPE] = KeyType.AES
    template.update({Attribute.LABEL: label, Attribute.VALUE: value, **(attrs or {})})
    in_token(softhsm, lambda session: session.create_object(template))


@pytest.mark.parametrize("size", [8, 16, 32, 64])
def test_wrap_unwrap_round_trip(root: Pkcs11RootKey, size: int) -> None:
    """A data key comes back as the bytes it was; the wrap is RFC 5649's length."""
    key = os.urandom(size)
    wrapped = root.wrap(key)
    assert len(wrapped) == size + 8
    assert root.unwrap(wrapped, version=1) == key


@pytest.mark.parametrize("size", [0, 20, 33])
def test_wrap_refuses_partial_blocks(root: Pkcs11RootKey, size: int) -> None:
    """SoftHSM 2.6.1 wraps those lengths unlike RFC 5649, so the provider does not ask it to."""
    with pytest.raises(ValueError, match="whole 8-byte blocks"):
        root.wrap(os.urandom(size))


@pytest.mark.parametrize("size", [1, 20, 33, 64])
def test_unwraps_software_wraps_of_any_length(softhsm: SoftHsm, size: int) -> None:
    """The token's unwrap is RFC 5649 for every length (only its wrap pads early)."""
    where = softhsm.location()
    kek = os.urandom(32)
    import_aes_key(softhsm, where.key, kek)
    key = os.urandom(size)
    assert Pkcs11RootKey(where, softhsm.pin).unwrap(software.wrap(kek, key), version=1) == key


def test_wraps_interoperate_with_the_software_keys(softhsm: SoftHsm) -> None:
    """CKM_AES_KEY_WRAP_PAD in the token is vault.crypto.wrap's KWP: each unwraps what the other wrapped."""
    where = softhsm.location()
    kek = os.urandom(32)
    import_aes_key(softhsm, where.key, kek)
    root = Pkcs11RootKey(where, softhsm.pin)
    key = os.urandom(32)
    assert software.unwrap(kek, root.wrap(key)) == key
    assert root.unwrap(software.wrap(kek, key), version=1) == key
    assert root.wrap(key) == software.wrap(kek, key)


def test_check_value_is_stable_and_differs_per_key(softhsm: SoftHsm, location: Pkcs11Location) -> None:
    """The same key gives the same value (also in a new provider); another key another value."""
    first = Pkcs11RootKey(location, softhsm.pin)
    value = first.check_value(1)
    assert len(value) == 32
    assert first.check_value(1) == value
    assert Pkcs11RootKey(location, softhsm.pin).check(1, value)
    other = softhsm.location()
    init_root_key(other, softhsm.pin)
    assert Pkcs11RootKey(other, softhsm.pin).check_value(1) != value


def test_root_key_has_the_design_attributes_and_its_value_cannot_be_read(
    softhsm: SoftHsm,
    location: Pkcs11Location,
) -> None:
    """DESIGN §10's attributes; CKA_VALUE is refused and the key cannot be wrapped out of the token."""

    def inspect(session: Session) -> dict[Attribute, Any]:
        key = session.get_key(ObjectClass.SECRET_KEY, KeyType.AES, label=location.key)
        with pytest.raises(p11.AttributeSensitive):
            key[Attribute.VALUE]
        carrier: Any = session.generate_key(KeyType.AES, 256, template={Attribute.WRAP: True, Attribute.TOKEN: False})
        with pytest.raises(p11.KeyUnextractable):
            carrier.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        carrier.destroy()
        wanted = [*ROOT_KEY_TEMPLATE, *OTHER_USES, Attribute.VALUE_LEN, Attribute.NEVER_EXTRACTABLE]
        return {attribute: key[attribute] for attribute in [*wanted, Attribute.ALWAYS_SENSITIVE]}

    attrs = in_token(softhsm, inspect)
    assert attrs == {
        **ROOT_KEY_TEMPLATE,
        **dict.fromkeys(OTHER_USES, False),
        Attribute.VALUE_LEN: 32,
        Attribute.NEVER_EXTRACTABLE: True,
        Attribute.ALWAYS_SENSITIVE: True,
    }
    assert attrs[Attribute.EXTRACTABLE] is False
    assert attrs[Attribute.SENSITIVE] is True


def test_altered_or_foreign_wraps_are_one_opaque_error(softhsm: SoftHsm, root: Pkcs11RootKey) -> None:
    """A flipped bit anywhere, a cut, or another key's wrap: UnwrapError, and the session stays usable."""
    key = os.urandom(32)
    wrapped = root.wrap(key)
    for index in (0, 7, 8, 20, len(wrapped) - 1):
        altered = bytearray(wrapped)
        altered[index] ^= 0x01
        with pytest.raises(UnwrapError):
            root.unwrap(bytes(altered), version=1)
    with pytest.raises(UnwrapError):
        root.unwrap(wrapped[:-8], version=1)
    with pytest.raises(UnwrapError):
        root.unwrap(software.wrap(os.urandom(32), key), version=1)
    assert root.unwrap(wrapped, version=1) == key


def test_calls_from_many_threads_share_the_session(root: Pkcs11RootKey) -> None:
    """python-pkcs11 sessions are not thread-safe: the provider's lock makes concurrent calls safe."""
    keys = [os.urandom(32) for _ in range(64)]

    def round_trip(key: bytes) -> bytes:
        return root.unwrap(root.wrap(key), version=1)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(round_trip, keys)) == keys


def test_versions_are_the_configured_one(softhsm: SoftHsm) -> None:
    """The token key is the version its setting names; other versions are refused."""
    where = softhsm.location(version=3)
    init_root_key(where, softhsm.pin)
    root = Pkcs11RootKey(where, softhsm.pin)
    assert root.versions() == (3,)
    assert root.version == 3
    assert root.setting == SETTING
    wrapped = root.wrap(b"k" * 32, version=3)
    with pytest.raises(RootKeyError, match="version 1 is not available"):
        root.unwrap(wrapped, version=1)
    with pytest.raises(RootKeyError, match="version 2 is not available"):
        root.wrap(b"k" * 32, version=2)


def test_wrong_pin_then_missing_key_are_root_key_errors(softhsm: SoftHsm) -> None:
    """The token refuses the PIN (naming the PIN file setting); with the right PIN the key label is unknown."""
    where = softhsm.location(token="locked")
    with pytest.raises(RootKeyError, match="refuses the PIN") as refused:
        Pkcs11RootKey(where, "not-the-pin")
    assert refused.value.setting == PIN_SETTING
    with pytest.raises(RootKeyError, match="no AES SECRET_KEY labelled") as missing:
        Pkcs11RootKey(where, softhsm.pin)
    assert missing.value.setting == SETTING


def test_another_pin_while_logged_in_is_refused(root: Pkcs11RootKey, location: Pkcs11Location) -> None:
    """The process holds one login per token; a second, different PIN does not slip through it."""
    with pytest.raises(RootKeyError, match="another PIN") as refused:
        Pkcs11RootKey(location, "not-the-pin")
    assert refused.value.setting == PIN_SETTING


def test_missing_key_label_and_wrong_token_are_root_key_errors(softhsm: SoftHsm) -> None:
    """Names that are not in the token stop the start with a RootKeyError."""
    with pytest.raises(RootKeyError, match="no AES SECRET_KEY labelled 'absent'"):
        Pkcs11RootKey(softhsm.location(key="absent"), softhsm.pin)
    with pytest.raises(RootKeyError, match="no single token labelled 'elsewhere'") as wrong_token:
        Pkcs11RootKey(softhsm.location(token="elsewhere"), softhsm.pin)
    assert wrong_token.value.setting == SETTING


@pytest.mark.parametrize(
    "attrs",
    [{Attribute.EXTRACTABLE: True}, {Attribute.SENSITIVE: False}],
    ids=["extractable", "not-sensitive"],
)
def test_a_key_that_could_leave_the_token_is_refused(softhsm: SoftHsm, attrs: dict[Attribute, Any]) -> None:
    """Only a sensitive, non-extractable key is a root key."""
    where = softhsm.location()
    import_aes_key(softhsm, where.key, os.urandom(32), attrs)
    with pytest.raises(RootKeyError, match="must be CKA_SENSITIVE and not CKA_EXTRACTABLE"):
        Pkcs11RootKey(where, softhsm.pin)


def test_a_short_aes_key_is_refused(softhsm: SoftHsm) -> None:
    """AES-128 is not the AES-256 root key DESIGN §10 asks for."""
    where = softhsm.location()
    import_aes_key(softhsm, where.key, os.urandom(16))
    with pytest.raises(RootKeyError, match="is not AES-256"):
        Pkcs11RootKey(where, softhsm.pin)


def test_init_refuses_an_existing_label(softhsm: SoftHsm, location: Pkcs11Location) -> None:
    """No overwrite: the key a database depends on stays."""
    before = Pkcs11RootKey(location, softhsm.pin).check_value(1)
    with pytest.raises(RootKeyError, match="already holds a key labelled"):
        init_root_key(location, softhsm.pin)
    assert Pkcs11RootKey(location, softhsm.pin).check_value(1) == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("module=/m.so;token=T;key=K", Pkcs11Location("/m.so", "T", "K", 1)),
        (" key = K ; token=T;module=/m.so;version=4;", Pkcs11Location("/m.so", "T", "K", 4)),
        ("module=/m.so;token=my token;key=root key 2", Pkcs11Location("/m.so", "my token", "root key 2", 1)),
    ],
    ids=["plain", "any-order-spaces-version", "labels-with-spaces"],
)
def test_parse_setting(text: str, expected: Pkcs11Location) -> None:
    """Parts in any order, spaces around them trimmed, version optional."""
    assert parse_setting(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "missing module, token, key"),
        ("module=/m.so;token=T", "missing key"),
        ("module=/m.so;token=T;key=K;slot=1", "unknown part 'slot=1'"),
        ("module=/m.so;token=T;key", "unknown part 'key'"),
        ("module=/m.so;token=T;key=K;key=L", "key is given twice"),
        ("module=/m.so;token=;key=K", "token is empty"),
        ("module=/m.so;token=T;key=K;version=0", "version '0' is not a positive"),
        ("module=/m.so;token=T;key=K;version=two", "version 'two' is not a positive"),
        ("module=/m.so;token=T;key=K;version=-1", "version '-1' is not a positive"),
        ("/m.so,T,K", "unknown part"),
    ],
    ids=[
        "empty",
        "no-key",
        "unknown-part",
        "no-equals",
        "twice",
        "empty-part",
        "version-0",
        "version-word",
        "version-neg",
        "commas",
    ],
)
def test_parse_setting_refuses_malformed_text(text: str, message: str) -> None:
    """Every malformed setting is a RootKeyError naming VAULT_ROOT_KEY_PKCS11."""
    with pytest.raises(RootKeyError, match=message) as refused:
        parse_setting(text)
    assert refused.value.setting == SETTING
    assert str(refused.value).startswith("VAULT_ROOT_KEY_PKCS11: ")


def test_read_pin(tmp_path: Path) -> None:
    """One line, the trailing newline stripped; missing, too open, empty or a directory: RootKeyError."""
    pin_file = tmp_path / "pin"
    pin_file.write_text("12 34\n")
    pin_file.chmod(0o600)
    assert read_pin(pin_file) == "12 34"
    pin_file.chmod(0o640)
    with pytest.raises(RootKeyError, match="readable by others"):
        read_pin(pin_file)
    pin_file.write_text("\n")
    pin_file.chmod(0o400)
    with pytest.raises(RootKeyError, match="is empty"):
        read_pin(pin_file)
    with pytest.raises(RootKeyError, match="does not exist") as absent:
        read_pin(tmp_path / "absent")
    assert absent.value.setting == PIN_SETTING
    with pytest.raises(RootKeyError, match="cannot be read"):
        read_pin(tmp_path)


def test_a_module_that_cannot_be_loaded_is_unavailable(softhsm: SoftHsm, tmp_path: Path) -> None:
    """No module, no token: try later (503), not a configuration error."""
    where = Pkcs11Location(str(tmp_path / "libabsent.so"), "vault", "k")
    with pytest.raises(RootKeyUnavailable, match=r"libabsent\.so"):
        Pkcs11RootKey(where, softhsm.pin)


def test_a_finalized_module_is_unavailable_then_recovers(softhsm: SoftHsm, root: Pkcs11RootKey) -> None:
    """A token that stops answering gives RootKeyUnavailable; the next call reconnects and unwraps old wraps."""
    key = os.urandom(32)
    wrapped = root.wrap(key)
    pkcs11.lib(softhsm.module).finalize()
    with pytest.raises(RootKeyUnavailable):
        root.unwrap(wrapped, version=1)
    assert root.unwrap(wrapped, version=1) == key
    assert root.unwrap(root.wrap(key), version=1) == key


def test_a_token_gone_mid_way_is_unavailable_then_recovers(softhsm: SoftHsm, root: Pkcs11RootKey) -> None:
    """The token store vanishes under a logged-in session: 503, also when a reconnect finds an empty store
    (no token labelled so: a configuration error at start, "not answering" once it has answered); service
    again once it is back."""
    key = os.urandom(32)
    wrapped = root.wrap(key)
    away = softhsm.tokendir.with_name("tokens-away")
    shutil.move(softhsm.tokendir, away)
    try:
        with pytest.raises(RootKeyUnavailable):
            root.unwrap(wrapped, version=1)
        softhsm.tokendir.mkdir()
        with pytest.raises(RootKeyUnavailable, match="no longer answers: no single token labelled 'vault'"):
            root.unwrap(wrapped, version=1)
    finally:
        if softhsm.tokendir.exists():
            softhsm.tokendir.rmdir()
        shutil.move(away, softhsm.tokendir)
    assert root.unwrap(wrapped, version=1) == key


def test_ed25519_signer_signs_in_the_token(softhsm: SoftHsm) -> None:
    """Pure Ed25519 (CKM_EDDSA): cryptography verifies; the private half cannot be read; no overwrite."""
    where = softhsm.location()
    init_ed25519_key(where, softhsm.pin)
    signer = Pkcs11Ed25519Signer(where, softhsm.pin)
    public = signer.public_key_bytes()
    assert len(public) == 32
    message = b"vault.example/log\n42\nbase64hash=\n"
    signature = signer.sign(message)
    assert len(signature) == 64
    Ed25519PublicKey.from_public_bytes(public).verify(signature, message)

    def inspect(session: Session) -> tuple[bool, bool]:
        private = session.get_key(ObjectClass.PRIVATE_KEY, KeyType.EC_EDWARDS, label=where.key)
        with pytest.raises(p11.AttributeSensitive):
            private[Attribute.VALUE]
        return private[Attribute.EXTRACTABLE], private[Attribute.SENSITIVE]

    assert in_token(softhsm, inspect) == (False, True)
    with pytest.raises(RootKeyError, match="already holds a key pair"):
        init_ed25519_key(where, softhsm.pin)
    assert Pkcs11Ed25519Signer(where, softhsm.pin).public_key_bytes() == public


@pytest.mark.parametrize(
    ("point", "raw"),
    [(b"\x04\x20" + bytes(range(32)), bytes(range(32))), (bytes(range(32)), bytes(range(32)))],
    ids=["der-octet-string", "raw"],
)
def test_raw_ed25519_point(point: bytes, raw: bytes) -> None:
    """CKA_EC_POINT comes DER-wrapped (SoftHSM 2.6) or raw (PKCS#11 3.0 tokens)."""
    assert raw_ed25519_point(point) == raw


def test_raw_ed25519_point_refuses_other_lengths() -> None:
    """A P-256 point is not an Ed25519 key."""
    with pytest.raises(RootKeyError, match="65 bytes"):
        raw_ed25519_point(b"\x04" + bytes(64))
