"""The root key (and the log's Ed25519 key) in a PKCS#11 token: wrap, unwrap and sign happen inside it.

``VAULT_ROOT_KEY_PKCS11`` = ``module=PATH;token=LABEL;key=LABEL[;version=N]`` names the PKCS#11 module
(the ``.so`` a vendor ships; SoftHSM2's is ``/usr/lib/softhsm/libsofthsm2.so``), the token and the key;
the user PIN comes from the file named by ``VAULT_PKCS11_PIN_FILE`` (mode 0600, one line). The key is an
AES-256 secret key with ``CKA_SENSITIVE`` true and ``CKA_EXTRACTABLE`` false, so its bytes never leave
the token: :class:`Pkcs11RootKey` refuses any other.

Wrapping is ``CKM_AES_KEY_WRAP_PAD`` (RFC 5649, the scheme of :mod:`vault.crypto.wrap`), so a key
wrapped in the token and one wrapped in software look alike. A data key is used in this process (AEAD
over the citizen's records), so it travels into and out of the token as a short-lived *session* object
(``CKA_TOKEN`` false, destroyed right after): ``C_WrapKey`` / ``C_UnwrapKey``. SoftHSM 2.6 offers the
mechanism only for those two calls (``C_Encrypt``/``C_Decrypt`` with it answer ``CKR_MECHANISM_INVALID``).

One logged-in session per module and token serves every key in the process (PKCS#11 login state is per
application and token), behind a lock: python-pkcs11 sessions are not thread-safe and the calls block.
A failure on the device drops the session and raises :class:`~vault.crypto.kek.RootKeyUnavailable`
(the API answers 503); the next call restarts the module (``C_Finalize``, ``C_Initialize``) and opens
a new one. Errors of configuration (wrong PIN, unknown token or key, a key with the wrong attributes)
raise :class:`~vault.crypto.kek.RootKeyError` while the token has never answered in this process;
after that, the same symptoms mean the token went away.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import stat
import threading
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.util.ec import encode_named_curve_parameters

from vault.crypto.kek import KeyEncryptionKey, RootKeyError, RootKeyUnavailable
from vault.crypto.wrap import UnwrapError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from pkcs11.types import Key, Session, SignMixin, UnwrapMixin, WrapMixin

    class _WrappingKey(Key, WrapMixin, UnwrapMixin):
        """What the token's AES key object offers (the Cython class mixes these in)."""

    class _SigningKey(Key, SignMixin):
        """What the token's private key object offers."""


SETTING = "VAULT_ROOT_KEY_PKCS11"
LOG_KEY_SETTING = "VAULT_LOG_KEY_PKCS11"
PIN_SETTING = "VAULT_PKCS11_PIN_FILE"
ROOT_KEY_BITS = 256
ED25519_OID = "1.3.101.112"
#: What the check value wraps: KWP is deterministic, so the wrap identifies the key and reveals nothing.
_CHECK_LABEL = hashlib.sha256(b"vault/root-key-check/pkcs11/v1").digest()
_PARTS = ("module", "token", "key", "version")
_PIN_ERRORS = (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange, p11.PinLocked, p11.PinExpired)
_TOKEN_ERRORS = (p11.NoSuchToken, p11.MultipleTokensReturned)
#: What C_UnwrapKey answers for altered or foreign bytes. SoftHSM says CKR_GENERAL_ERROR, which a token
#: failing at that very call could say too: that unwrap then reads as UnwrapError, the next call as 503.
_BAD_WRAP_ERRORS = (
    p11.WrappedKeyInvalid,
    p11.WrappedKeyLenRange,
    p11.EncryptedDataInvalid,
    p11.EncryptedDataLenRange,
    p11.DataInvalid,
    p11.DataLenRange,
    p11.GeneralError,
)
#: A data key inside the token for one call: readable, so it can come back to this process.
_TRANSIT_KEY = {
    Attribute.CLASS: ObjectClass.SECRET_KEY,
    Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
    Attribute.TOKEN: False,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: False,
    Attribute.EXTRACTABLE: True,
}
#: DESIGN §10: the root key's attributes.
ROOT_KEY_TEMPLATE = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.WRAP: True,
    Attribute.UNWRAP: True,
    Attribute.ENCRYPT: True,
    Attribute.DECRYPT: True,
}

#: Only what DESIGN §10 lists: no CKA_SIGN/CKA_VERIFY (CMAC) or CKA_DERIVE, which python-pkcs11 grants AES by default.
_ROOT_KEY_USES = MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT | MechanismFlag.WRAP | MechanismFlag.UNWRAP

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Pkcs11Location:
    """Where a key lives: the module file, the token label, the key label, its root key version, and its setting."""

    module: str
    token: str
    key: str
    version: int = 1
    setting: str = SETTING


def parse_setting(text: str, setting: str = SETTING) -> Pkcs11Location:
    """Parse ``module=PATH;token=LABEL;key=LABEL[;version=N]`` of ``setting``; :class:`RootKeyError` otherwise."""
    parts: dict[str, str] = {}
    for item in text.split(";"):
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not item.strip():
            continue
        if not sep or name not in _PARTS:
            raise RootKeyError(setting, f"unknown part {item.strip()!r} (expected module=…;token=…;key=…[;version=N])")
        if name in parts:
            raise RootKeyError(setting, f"{name} is given twice")
        if not value:
            raise RootKeyError(setting, f"{name} is empty")
        parts[name] = value
    missing = [name for name in ("module", "token", "key") if name not in parts]
    if missing:
        raise RootKeyError(setting, f"missing {', '.join(missing)} (expected module=PATH;token=LABEL;key=LABEL)")
    version_text = parts.get("version", "1")
    if not version_text.isascii() or not version_text.isdigit() or int(version_text) < 1:
        raise RootKeyError(setting, f"version {version_text!r} is not a positive whole number")
    return Pkcs11Location(parts["module"], parts["token"], parts["key"], int(version_text), setting)


def read_pin(path: Path) -> str:
    """The user PIN from ``path``: one line, trailing newline stripped; the file must be mode 0600 or stricter."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RootKeyError(PIN_SETTING, f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RootKeyError(PIN_SETTING, f"{path} cannot be read: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise RootKeyError(PIN_SETTING, f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it")
    pin = text.rstrip("\r\n")
    if not pin:
        raise RootKeyError(PIN_SETTING, f"{path} is empty")
    return pin


class Pkcs11Connection:
    """One logged-in read-write session on a token, reopened after a failure; every call holds the lock."""

    def __init__(self, module: str, token: str, pin: str) -> None:
        self.module = module
        self.token = token
        self.pin = pin
        self.lock = threading.Lock()
        self._session: Session | None = None
        self._answered = False
        #: The module generation the session was opened in, and the one it failed in (then restart it).
        self._generation = 0
        self._failed_generation: int | None = None

    def run(self, operation: Callable[[Session], T]) -> T:
        """``operation`` on the session; device failures drop it and raise :class:`RootKeyUnavailable`."""
        with self.lock:
            session = self._session or self._open()
            try:
                result = operation(session)
            except p11.PKCS11Error as exc:
                self._drop(failed=True)
                raise RootKeyUnavailable(f"PKCS#11 token {self.token!r}: {type(exc).__name__} {exc}") from exc
            self._answered = True
            return result

    def _open(self) -> Session:
        try:
            library = pkcs11.lib(self.module)
            if self._failed_generation is not None:
                _restart(library, self._failed_generation)
        except p11.PKCS11Error as exc:
            raise RootKeyUnavailable(f"PKCS#11 module {self.module}: {type(exc).__name__} {exc}") from exc
        generation = _generations.get(self.module, 0)
        try:
            session = self._login(library)
        except (RootKeyError, RootKeyUnavailable):
            if self._failed_generation is not None:  # recovering: restart the module again next time
                self._failed_generation = generation
            raise
        self._session, self._generation, self._failed_generation = session, generation, None
        return session

    def _login(self, library: Any) -> Session:
        try:
            session: Session = library.get_token(token_label=self.token).open(rw=True, user_pin=self.pin)
        except _PIN_ERRORS as exc:
            self._refuse(PIN_SETTING, f"the token {self.token!r} refuses the PIN ({type(exc).__name__})", exc)
        except _TOKEN_ERRORS as exc:
            self._refuse(SETTING, f"no single token labelled {self.token!r} in {self.module}", exc)
        except p11.UserAlreadyLoggedIn as exc:
            raise RootKeyError(SETTING, f"the token {self.token!r} is logged in elsewhere in this process") from exc
        except p11.PKCS11Error as exc:
            raise RootKeyUnavailable(f"PKCS#11 token {self.token!r}: {type(exc).__name__} {exc}") from exc
        return session

    @property
    def logged_in(self) -> bool:
        """Whether a session is open now."""
        return self._session is not None

    def _refuse(self, setting: str, message: str, exc: Exception) -> NoReturn:
        if self._answered:
            raise RootKeyUnavailable(f"PKCS#11 token {self.token!r} no longer answers: {message}") from exc
        raise RootKeyError(setting, message) from exc

    def _drop(self, *, failed: bool) -> None:
        if failed:
            self._failed_generation = self._generation
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(p11.PKCS11Error):  # the device is gone; nothing is left to close
                session.close()


_connections: dict[tuple[str, str], Pkcs11Connection] = {}
_connections_lock = threading.Lock()
#: How often each module was restarted in this process (guarded by ``_connections_lock``).
_generations: dict[str, int] = {}


def _restart(library: Any, failed_generation: int) -> None:
    """``C_Finalize`` + ``C_Initialize`` after a session failed, unless another connection already did.

    A module that lost its device (SoftHSM whose token store vanished, a network HSM client after a
    failover) often answers again only after a restart. It ends every session of the module in this
    process, so it happens once per failure generation: connections whose sessions died *because of*
    a restart merely reopen, instead of restarting in turn and ending each other's sessions.
    """
    with _connections_lock:
        if _generations.get(library.so, 0) != failed_generation:
            return
        with contextlib.suppress(p11.PKCS11Error):
            library.finalize()
        library.initialize()
        _generations[library.so] = failed_generation + 1


def connection(location: Pkcs11Location, pin: str) -> Pkcs11Connection:
    """The process's connection to ``location``'s token; while logged in, only with the PIN it used."""
    place = (location.module, location.token)
    with _connections_lock:
        known = _connections.get(place)
        if known is not None and known.pin == pin:
            return known
        if known is not None and known.logged_in:
            raise RootKeyError(PIN_SETTING, f"another PIN is logged in to the token {location.token!r}")
        fresh = _connections[place] = Pkcs11Connection(location.module, location.token, pin)
        return fresh


def _find(session: Session, label: str, object_class: ObjectClass, key_type: KeyType) -> list[Any]:
    """Every object labelled ``label`` of that class and type (the search runs to its end)."""
    attrs = {Attribute.LABEL: label, Attribute.CLASS: object_class, Attribute.KEY_TYPE: key_type}
    return list(session.get_objects(attrs))


def _one(session: Session, where: Pkcs11Location, object_class: ObjectClass, key_type: KeyType) -> Key:
    """The single object labelled ``where.key``; :class:`RootKeyError` when there is none or several."""
    label = where.key
    found = _find(session, label, object_class, key_type)
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise RootKeyError(where.setting, f"{what} {key_type.name} {object_class.name} labelled {label!r} in the token")
    key: Key = found[0]
    return key


def _require_protected(key: Key, where: Pkcs11Location) -> None:
    """Refuse a key whose bytes could leave the token."""
    if key[Attribute.EXTRACTABLE] or not key[Attribute.SENSITIVE]:
        raise RootKeyError(where.setting, f"the key {where.key!r} must be CKA_SENSITIVE and not CKA_EXTRACTABLE")


class Pkcs11RootKey(KeyEncryptionKey):
    """One root key version held in a PKCS#11 token; wrap, unwrap and the check value run inside it."""

    def __init__(self, location: Pkcs11Location, pin: str, *, wait: bool = False) -> None:
        """Connect and check the key now, so a wrong setting stops the start: :class:`RootKeyError`.

        Args:
            location: Where the key is.
            pin: The token's user PIN.
            wait: When the token does not answer yet, check the key before its first use instead of
                raising :class:`RootKeyUnavailable` (a service start: not ready, rather than a crash loop).
        """
        self.location = location
        self._connection = connection(location, pin)
        self._found: tuple[Session, _WrappingKey] | None = None
        self._checked = False
        try:
            self._ensure_checked()
        except RootKeyUnavailable:
            if not wait:
                raise

    @property
    def setting(self) -> str:
        """The setting that names this key."""
        return SETTING

    def versions(self) -> tuple[int, ...]:
        """The one version this token key is."""
        return (self.location.version,)

    def wrap(self, key: bytes, *, version: int | None = None) -> bytes:
        """``key`` wrapped with AES-256-KWP in the token; ``key`` is a whole number of 8-byte blocks.

        SoftHSM 2.6.1 zero-pads other lengths *before* wrapping (its wrap then unwraps to the padded
        length, and differs from RFC 5649), so they are refused here; every key the vault wraps is 32 bytes.
        """
        self._require(version)
        if not key or len(key) % 8:
            raise ValueError(f"a {len(key)}-byte key: the token wraps only whole 8-byte blocks")

        def operation(session: Session) -> bytes:
            transit = cast("Key", session.create_object({**_TRANSIT_KEY, Attribute.VALUE: key}))
            try:
                return self._key(session).wrap_key(transit, mechanism=Mechanism.AES_KEY_WRAP_PAD)
            finally:
                transit.destroy()

        return self._connection.run(operation)

    def unwrap(self, wrapped: bytes, *, version: int) -> bytes:
        """The key inside ``wrapped``; :class:`UnwrapError` when the token rejects it."""
        self._require(version)

        def operation(session: Session) -> bytes | None:
            root = self._key(session)
            try:
                transit = root.unwrap_key(
                    ObjectClass.SECRET_KEY,
                    KeyType.GENERIC_SECRET,
                    wrapped,
                    mechanism=Mechanism.AES_KEY_WRAP_PAD,
                    template=_TRANSIT_KEY,
                )
            except _BAD_WRAP_ERRORS:
                return None
            try:
                value: bytes = transit[Attribute.VALUE]
            finally:
                transit.destroy()
            return value

        key = self._connection.run(operation)
        if key is None:
            raise UnwrapError("cannot unwrap key")
        return key

    def check_value(self, version: int) -> bytes:
        """SHA-256 of the KWP wrap of a fixed 32-byte label (differs from the software keys' HMAC)."""
        self._require(version)
        return hashlib.sha256(self.wrap(_CHECK_LABEL, version=version)).digest()

    def _require(self, version: int | None) -> None:
        if version is not None and version != self.location.version:
            raise RootKeyError(SETTING, f"root key version {version} is not available")
        self._ensure_checked()

    def _ensure_checked(self) -> None:
        """The start's key check, once the token has answered it."""
        if not self._checked:
            self._connection.run(self._check_key)
            self._checked = True

    def _key(self, session: Session) -> _WrappingKey:
        """The key's handle, searched once per session (a search on a dead session upsets python-pkcs11)."""
        if self._found is None or self._found[0] is not session:
            found = _find(session, self.location.key, ObjectClass.SECRET_KEY, KeyType.AES)
            if len(found) != 1:
                raise p11.NoSuchKey(f"{len(found)} keys labelled {self.location.key!r}")
            self._found = (session, found[0])
        return self._found[1]

    def _check_key(self, session: Session) -> None:
        key = _one(session, self.location, ObjectClass.SECRET_KEY, KeyType.AES)
        _require_protected(key, self.location)
        if key[Attribute.VALUE_LEN] != ROOT_KEY_BITS // 8:
            raise RootKeyError(SETTING, f"the key {self.location.key!r} is not AES-256")
        if not (key[Attribute.WRAP] and key[Attribute.UNWRAP]):
            raise RootKeyError(SETTING, f"the key {self.location.key!r} lacks CKA_WRAP or CKA_UNWRAP")


def init_root_key(location: Pkcs11Location, pin: str) -> None:
    """Generate the AES-256 root key in the token with DESIGN §10's attributes; refuse an existing label."""

    def operation(session: Session) -> None:
        if _find(session, location.key, ObjectClass.SECRET_KEY, KeyType.AES):
            raise RootKeyError(location.setting, f"the token already holds a key labelled {location.key!r}")
        session.generate_key(
            KeyType.AES,
            ROOT_KEY_BITS,
            label=location.key,
            store=True,
            capabilities=_ROOT_KEY_USES,
            template=ROOT_KEY_TEMPLATE,
        )

    connection(location, pin).run(operation)


def init_ed25519_key(location: Pkcs11Location, pin: str) -> None:
    """Generate an Ed25519 key pair labelled ``location.key`` (private half non-extractable); no overwrite."""

    def operation(session: Session) -> None:
        if _find(session, location.key, ObjectClass.PRIVATE_KEY, KeyType.EC_EDWARDS):
            raise RootKeyError(location.setting, f"the token already holds a key pair labelled {location.key!r}")
        session.generate_keypair(
            KeyType.EC_EDWARDS,
            label=location.key,
            store=True,
            public_template={Attribute.EC_PARAMS: encode_named_curve_parameters(ED25519_OID), Attribute.VERIFY: True},
            private_template={
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.SIGN: True,
            },
        )

    connection(location, pin).run(operation)


def raw_ed25519_point(ec_point: bytes) -> bytes:
    """The 32-byte public key from ``CKA_EC_POINT``: raw, or DER OCTET STRING-wrapped (SoftHSM 2.6)."""
    if len(ec_point) == 34 and ec_point[:2] == b"\x04\x20":
        return ec_point[2:]
    if len(ec_point) == 32:
        return ec_point
    raise RootKeyError(SETTING, f"CKA_EC_POINT of {len(ec_point)} bytes is not an Ed25519 public key")


class Pkcs11Ed25519Signer:
    """An Ed25519 key pair in a PKCS#11 token (``CKM_EDDSA``, pure Ed25519): the log's note signer."""

    def __init__(self, location: Pkcs11Location, pin: str) -> None:
        """Connect, check the private half is non-extractable, and read the public half."""
        self.location = location
        self._connection = connection(location, pin)
        self._found: tuple[Session, _SigningKey] | None = None
        self._public = self._connection.run(self._read_public)

    def public_key_bytes(self) -> bytes:
        """The 32 raw bytes of the public key."""
        return self._public

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``, made in the token."""

        def operation(session: Session) -> bytes:
            if self._found is None or self._found[0] is not session:
                found = _find(session, self.location.key, ObjectClass.PRIVATE_KEY, KeyType.EC_EDWARDS)
                if len(found) != 1:
                    raise p11.NoSuchKey(f"{len(found)} private keys labelled {self.location.key!r}")
                self._found = (session, found[0])
            signature: bytes = self._found[1].sign(message, mechanism=Mechanism.EDDSA)
            return signature

        return self._connection.run(operation)

    def _read_public(self, session: Session) -> bytes:
        private = _one(session, self.location, ObjectClass.PRIVATE_KEY, KeyType.EC_EDWARDS)
        _require_protected(private, self.location)
        public = _one(session, self.location, ObjectClass.PUBLIC_KEY, KeyType.EC_EDWARDS)
        return raw_ed25519_point(public[Attribute.EC_POINT])
