"""The provider's page texts in German (the default) and English (``?lang=en`` or ``ui_locales=en``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

TEXTS: dict[str, dict[str, str]] = {
    "de": {
        "provider": "Test-eID-Anbieter",
        "title": "Mit Online-Ausweis anmelden",
        "intro": "Dieser Testanbieter steht in Tests und in der Demo für BundID bzw. die Online-Ausweisfunktion. "
        "Er prüft keinen echten Ausweis: Sie wählen eine erfundene Person.",
        "client": "Anfragender Dienst",
        "asked": "Verlangtes Vertrauensniveau",
        "asked_none": "keines angegeben",
        "choose": "Als welche Person möchten Sie sich anmelden?",
        "level": "Vertrauensniveau",
        "lower": "niedriger als verlangt",
        "lower_note": "Personen mit einem niedrigeren Vertrauensniveau als verlangt können Sie trotzdem wählen. "
        "Der Anbieter meldet dann das tatsächliche Niveau der Person; der anfragende Dienst muss damit umgehen.",
        "cancel": "Abbrechen",
        "other_language": "English",
        "problem": "Anmeldung nicht möglich",
        "problem_intro": "Die Anfrage an den Testanbieter ist ungültig. Bitte beginnen Sie die Anmeldung erneut "
        "bei dem Dienst, von dem Sie kamen.",
        "details": "Technische Angabe",
        "index_intro": "Ein kleiner OpenID-Provider für Tests und die Demo von Bürgertresor. "
        "Anmeldungen beginnen beim anfragenden Dienst.",
        "discovery": "Konfiguration (OpenID Discovery)",
        "high": "hoch",
        "substantial": "substanziell",
    },
    "en": {
        "provider": "Test eID provider",
        "title": "Sign in with your eID card",
        "intro": "This test provider stands in for BundID or the German eID card in tests and the demo. "
        "It checks no real card: you choose an invented person.",
        "client": "Requesting service",
        "asked": "Level of assurance asked for",
        "asked_none": "none given",
        "choose": "Which person do you want to sign in as?",
        "level": "level of assurance",
        "lower": "lower than asked",
        "lower_note": "You may still choose a person whose level of assurance is lower than asked. The provider "
        "then reports that person's true level; the requesting service has to cope with it.",
        "cancel": "Cancel",
        "other_language": "Deutsch",
        "problem": "Sign-in not possible",
        "problem_intro": "The request to the test provider is not valid. Please start signing in again at the "
        "service you came from.",
        "details": "Technical detail",
        "index_intro": "A small OpenID provider for the tests and the demo of Bürgertresor. "
        "Sign-ins start at the requesting service.",
        "discovery": "Configuration (OpenID Discovery)",
        "high": "high",
        "substantial": "substantial",
    },
}


def language(query: Mapping[str, str]) -> str:
    """``"en"`` if ``lang=en`` or ``ui_locales`` prefers English, else ``"de"``."""
    if query.get("lang") in TEXTS:
        return query["lang"]
    for tag in query.get("ui_locales", "").split():
        base = tag.split("-")[0].lower()
        if base in TEXTS:
            return base
    return "de"
