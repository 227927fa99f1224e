"""The assurance rules for passkeys and the recent sign-in rule, without a database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from vault.citizens.passkeys import PasskeyInfo, recently_added
from vault.citizens.reauth import RECENT, effective_level, enrolled_assurance, highest_level, rank, recent_enough

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Session:
    created_at: datetime
    assurance: str


@pytest.mark.parametrize(
    ("session", "passkey"),
    [("basic", "basic"), ("substantial", "substantial"), ("high", "substantial"), ("unknown", "basic")],
)
def test_a_passkey_gets_at_most_the_enrolling_sessions_level_and_never_more_than_substantial(
    session: str, passkey: str
) -> None:
    assert enrolled_assurance(session) == passkey


def test_the_accounts_highest_level_is_its_password_or_its_best_passkey_or_link_capped_by_its_identity() -> None:
    assert highest_level([]) == "basic"
    assert highest_level(["basic", "basic"], "high") == "basic"
    assert highest_level(["basic", "substantial"], "high") == "substantial"
    assert highest_level(["high", "substantial"], "high") == "high"
    assert highest_level(["bogus"], "high") == "basic"
    # no passkey or link counts above the account's identity level now (e.g. after the eID was unlinked)
    assert highest_level(["substantial"], "basic") == "basic"
    assert highest_level(["substantial"], "substantial", ["high"]) == "substantial"
    assert highest_level([], "high", ["high"]) == "high"


@pytest.mark.parametrize(
    ("method", "identity", "effective"),
    [
        ("basic", "high", "basic"),
        ("high", "basic", "basic"),
        ("high", "substantial", "substantial"),
        ("substantial", "high", "substantial"),
        ("high", "high", "high"),
        ("bogus", "high", "basic"),
        ("high", "bogus", "basic"),
    ],
)
def test_a_session_is_effective_at_the_lower_of_its_sign_in_and_the_identity_level(
    method: str, identity: str, effective: str
) -> None:
    assert effective_level(method, identity) == effective


def test_an_unknown_level_ranks_below_basic() -> None:
    assert rank("bogus") < rank("basic") < rank("substantial") < rank("high")


@pytest.mark.parametrize(
    ("age", "session", "highest", "recent"),
    [
        (timedelta(0), "basic", "basic", True),
        (RECENT, "basic", "basic", True),
        (RECENT + timedelta(seconds=1), "basic", "basic", False),
        (timedelta(hours=1), "substantial", "substantial", False),
        (timedelta(seconds=10), "basic", "substantial", False),  # a password cannot stand in for a passkey
        (timedelta(seconds=10), "substantial", "substantial", True),
        (timedelta(seconds=10), "substantial", "basic", True),  # above the account's level is fine
        (timedelta(seconds=10), "high", "substantial", True),
        (timedelta(seconds=10), "bogus", "basic", False),
    ],
)
def test_a_recent_sign_in_is_at_most_five_minutes_old_at_the_accounts_highest_level(
    age: timedelta, session: str, highest: str, recent: bool
) -> None:
    assert recent_enough(Session(NOW - age, session), highest, NOW) is recent


def test_the_overview_tells_of_passkeys_added_in_the_last_thirty_days_newest_first() -> None:
    def added(days: float) -> PasskeyInfo:
        return PasskeyInfo(f"p{days}", NOW - timedelta(days=days), None, "basic")

    shown = recently_added([added(31), added(2), added(30), added(0.5)], NOW)
    assert [p.id for p in shown] == ["p0.5", "p2", "p30"]
    assert recently_added([], NOW) == []
