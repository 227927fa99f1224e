"""German (default) and English for the citizen pages: gettext catalogues read with Babel.

The catalogues are the ``.po`` files in ``vault/api/locales/<lang>/LC_MESSAGES/messages.po``
(msgids in English); they are compiled in memory on first use, so there is no build step. The
language is chosen by ``?lang=de|en`` on any page, which also sets a cookie so the choice
persists, then by that cookie, then German.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from litestar.datastructures import Cookie

if TYPE_CHECKING:
    from litestar import Request

LOCALES = Path(__file__).with_name("locales")
LANGUAGES = ("de", "en")
DEFAULT = "de"
COOKIE = "vault_lang"


@lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str) -> Translations:
    """The compiled catalogue for ``lang``."""
    with (LOCALES / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def choose(request: Request[Any, Any, Any]) -> tuple[str, Cookie | None]:
    """The page language, and the cookie to set when ``?lang=`` asked for a change."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        cookie = Cookie(
            key=COOKIE, value=asked, path="/", secure=True, httponly=True, samesite="lax", max_age=365 * 24 * 3600
        )
        return asked, cookie
    stored = request.cookies.get(COOKIE)
    return (stored if stored in LANGUAGES else DEFAULT), None
