"""What a new password must satisfy (ASVS 5.0 V6.2): length, not common, not the login name.

8 to 1024 characters, counted after NFC normalisation, with no truncation and no composition
rules; pasting is allowed. "Common" means on the list of 30,000 most used passwords that the
``zxcvbn`` package ships, or on the German supplement ``common_passwords_de.txt`` beside this
module (both compared case-insensitively), so no network look-up is needed.
"""

from __future__ import annotations

import enum
import unicodedata
from functools import lru_cache
from pathlib import Path

MIN_LENGTH = 8
MAX_LENGTH = 1024


class PasswordProblem(enum.Enum):
    """Why a new password is refused."""

    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    COMMON = "common"
    SAME_AS_LOGIN = "same_as_login"


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    german = Path(__file__).with_name("common_passwords_de.txt").read_text(encoding="utf-8").splitlines()
    supplement = (unicodedata.normalize("NFC", line.strip()) for line in german if line.strip() and line[0] != "#")
    return frozenset(p.casefold() for p in [*FREQUENCY_LISTS["passwords"], *supplement])


def password_problem(password: str, login: str = "") -> PasswordProblem | None:
    """The first rule ``password`` breaks, or ``None``."""
    normalised = unicodedata.normalize("NFC", password)
    if len(normalised) < MIN_LENGTH:
        return PasswordProblem.TOO_SHORT
    if len(normalised) > MAX_LENGTH:
        return PasswordProblem.TOO_LONG
    folded = normalised.casefold()
    if folded in _common():
        return PasswordProblem.COMMON
    if login and folded == unicodedata.normalize("NFC", login).strip().casefold():
        return PasswordProblem.SAME_AS_LOGIN
    return None
