"""Assurance levels of passkeys and the "recent sign-in" rule for sensitive account operations.

Pure functions, no I/O. Levels follow eIDAS (basic < substantial < high); a level says how well
the person behind a sign-in is known, which depends on how the account's means of sign-in were
enrolled, not only on the means itself:

* An account has an *identity level*: how well the person behind it was proven at enrolment.
  ``basic`` for a self-registered account; the level an eID provider vouched for once the account is
  bound to it (:mod:`vault.identity.binding`). A session is effective at the lower of how the
  person signed in and the account's identity level (:func:`effective_level`).
* A passkey carries at most the effective level of the session that enrolled it, and never more
  than ``substantial`` (a passkey with user verification is a substantial-grade authenticator). So
  a password (``basic``) session cannot mint a ``substantial`` passkey for itself, and a passkey
  enrolled before the account's identity was proven stays ``basic``.
* An account's highest level is the best it can sign in at: ``basic`` (its password), the best of
  its passkeys (each no higher than the identity level now) or the best of its provider links.
* Adding or removing a passkey, ending other sessions, exporting and erasing need a *recent*
  sign-in: at most :data:`RECENT` old and at the account's highest level, so a stolen password
  cannot undo what a stronger passkey protects.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

LEVELS = ("basic", "substantial", "high")
#: The highest level a passkey can carry, whatever the session that enrolled it.
PASSKEY_CEILING = "substantial"
#: How old a sign-in may be for a sensitive operation.
RECENT = timedelta(minutes=5)


class ReauthenticationRequired(Exception):
    """A sensitive operation needs a sign-in at most :data:`RECENT` old at ``level``; nothing changed.

    ``back`` is the same-site path to return to after signing in again (pages only).
    """

    def __init__(self, level: str, back: str | None = None) -> None:
        super().__init__(f"sign in again (at level {level}, at most {int(RECENT.total_seconds())} s ago)")
        self.level = level
        self.back = back


def rank(level: str) -> int:
    """The order of a level; an unknown one ranks below ``basic`` (it never satisfies anything)."""
    return LEVELS.index(level) if level in LEVELS else -1


def effective_level(method_level: str, identity_level: str) -> str:
    """A session's level: the lower of how the person signed in and the account's identity level."""
    if rank(method_level) < 0 or rank(identity_level) < 0:
        return "basic"
    return min(method_level, identity_level, key=rank)


def enrolled_assurance(session_assurance: str) -> str:
    """The level a passkey gets when the session at ``session_assurance`` enrols it."""
    if rank(session_assurance) < 0:
        return "basic"
    return min(session_assurance, PASSKEY_CEILING, key=rank)


def highest_level(passkey_levels: Iterable[str], identity_level: str = "basic", link_levels: Iterable[str] = ()) -> str:
    """The best level the account can sign in at now: its password, passkeys or provider links."""
    passkeys = [effective_level(level, identity_level) for level in passkey_levels]
    links = [effective_level(level, identity_level) for level in link_levels]
    return max(["basic", *passkeys, *links], key=rank)


class SignIn(Protocol):
    """What the rule needs of a session: when it began and at which level."""

    @property
    def created_at(self) -> datetime:
        """The sign-in time."""

    @property
    def assurance(self) -> str:
        """The session's level."""


def recent_enough(sign_in: SignIn, highest: str, now: datetime) -> bool:
    """Whether ``sign_in`` began at most :data:`RECENT` before ``now`` at (at least) ``highest``."""
    return now - sign_in.created_at <= RECENT and rank(sign_in.assurance) >= rank(highest)
