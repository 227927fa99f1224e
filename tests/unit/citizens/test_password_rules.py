from __future__ import annotations

import pytest

from vault.citizens.password_rules import PasswordProblem, password_problem


@pytest.mark.parametrize(
    ("password", "login", "problem"),
    [
        ("kurz", "", PasswordProblem.TOO_SHORT),
        ("1234567", "", PasswordProblem.TOO_SHORT),
        ("x" * 1025, "", PasswordProblem.TOO_LONG),
        ("password", "", PasswordProblem.COMMON),
        ("Password", "", PasswordProblem.COMMON),
        ("12345678", "", PasswordProblem.COMMON),
        ("qwertyuiop", "", PasswordProblem.COMMON),
        ("erika.mustermann", "Erika.Mustermann", PasswordProblem.SAME_AS_LOGIN),
    ],
)
def test_refused(password: str, login: str, problem: PasswordProblem) -> None:
    assert password_problem(password, login) is problem


@pytest.mark.parametrize(
    "password",
    [
        "Zauberflöte und Papageno 1791",
        "x" * 1024,
        "ä" * 64 + "€" * 64,
        "korrekt Pferd Batterie Heftklammer",
        "e\u0301" * 8,
    ],
)
def test_accepted(password: str) -> None:
    assert password_problem(password, "someone@example.de") is None


def test_nothing_is_truncated_at_64_or_72_characters() -> None:
    base = "a-long-and-unusual-passphrase-" * 3
    assert password_problem(base[:80], "") is None
    assert password_problem(base[:80] + "!", "") is None


@pytest.mark.parametrize("password", ["Passwort123", "SCHALKE04", "Fußball1", "ichliebedich", "Sommer2026"])
def test_common_german_passwords_are_refused(password: str) -> None:
    assert password_problem(password) is PasswordProblem.COMMON
