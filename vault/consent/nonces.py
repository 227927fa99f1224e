"""Server-provided DPoP nonces (RFC 9449 §8 and §9), without state. Pure: no I/O.

A nonce is ``base64url(window || HMAC-SHA-256(key, label || window)[:16])`` for the current window
of ``window_s`` seconds; the previous window's nonce is still accepted, so a nonce is good for
one to two windows. A proof must then have been made after the vault handed out the nonce: proofs
signed in advance (by a stolen DPoP key, for later) stop working. The tag is a
:class:`~vault.crypto.macs.NonceMac` under the service secret ``dpop-nonce``, the same in every worker,
so any worker accepts any worker's nonce.
"""

from __future__ import annotations

import base64
import hmac
import struct
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from vault.crypto.macs import NonceMac

WINDOW_S = 300


class DpopNonces:
    """Issues and checks the nonces of one deployment."""

    def __init__(self, mac: NonceMac, window_s: int = WINDOW_S, clock: Callable[[], float] = time.time) -> None:
        self._mac = mac
        self._window_s = window_s
        self._clock = clock

    def _nonce(self, window: int) -> str:
        packed = struct.pack(">Q", window)
        return base64.urlsafe_b64encode(packed + self._mac.tag(packed)).rstrip(b"=").decode()

    def current(self) -> str:
        """The nonce to hand out now."""
        return self._nonce(int(self._clock()) // self._window_s)

    def valid(self, nonce: object) -> bool:
        """Whether ``nonce`` is this window's or the previous one's (any other value, of any type: False)."""
        if not isinstance(nonce, str) or len(nonce) > 64 or not nonce.isascii():
            return False  # compare_digest refuses non-ASCII str (TypeError); ours are base64url
        window = int(self._clock()) // self._window_s
        given = nonce.encode("ascii")
        return any(hmac.compare_digest(given, self._nonce(w).encode("ascii")) for w in (window, window - 1))
