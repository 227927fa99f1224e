"""The German and English catalogues cover exactly the messages the code and templates use."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from vault.api import i18n

ROOT = Path(__file__).resolve().parents[3]
API = ROOT / "vault" / "api"


def _catalog(lang: str) -> dict[str, str]:
    with (i18n.LOCALES / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return {m.id: m.string for m in read_po(po) if m.id}


def _extracted() -> set[str]:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "N_": None}
    return {msg for _, _, msg, _, _ in extract_from_dir(API, method_map, options, keywords=keywords) if msg}


def test_both_catalogues_translate_every_message_the_pages_use() -> None:
    used = _extracted()
    assert len(used) > 15
    for lang in i18n.LANGUAGES:
        catalog = _catalog(lang)
        assert set(catalog) == used, f"{lang}: missing {used - set(catalog)}, stale {set(catalog) - used}"
        assert all(catalog.values()), f"{lang}: untranslated {[k for k, v in catalog.items() if not v]}"


def test_translations_keep_their_placeholders() -> None:
    for msgid, msgstr in _catalog("de").items():
        assert set(re.findall(r"%\(\w+\)s", msgid)) == set(re.findall(r"%\(\w+\)s", msgstr)), msgid


def test_german_really_is_german() -> None:
    assert i18n.translations("de").gettext("Sign in") == "Anmelden"
    assert i18n.translations("en").gettext("Sign in") == "Sign in"
