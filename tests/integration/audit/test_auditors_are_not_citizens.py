"""Auditors are not citizens (issue 15 item 9), on both databases.

An auditor's account gets no citizen page (sent to ``/audit``), no citizen API (403) and no consent
page, so it stores nothing and opening ``/data`` writes nothing to the log; it keeps its settings
for passkeys and sessions, without export or erasure. What an auditor opens is recorded and shown
to the other auditors on ``/audit/activity``. The audit views name the log's actor ``citizen``
"Bürger/in" / "citizen", never "Sie" / "You"; the citizen's own history keeps "Sie".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from tests.integration.audit.test_auditor_pages import AUDITOR, CITIZEN, _sign_in, _story
from tests.integration.consent.test_oauth_flow import _authorize_url, _push
from tests.support.web import PASSWORD, domain, form_token
from vault.citizens.tables import StoredAttribute, StoredDocument
from vault.consent.grants import GrantRow
from vault.transparency.tables import LogEntry

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

    from vault.config import Settings

SECOND = "zweite.pruefung@bfdi.example"
PDF_FILE = {"file": ("a.pdf", b"%PDF-1.4", "application/pdf")}
CITIZEN_PAGES = ("/data", "/documents", "/grants", "/history", "/settings/delete")


async def _counts(settings: Settings) -> tuple[int, int, int, int]:
    """Log entries, attributes, documents, grants."""
    counts = []
    async with domain(settings) as runtime, runtime.engine.connect() as conn:
        for table in (LogEntry, StoredAttribute, StoredDocument, GrantRow):
            counts.append(int(await conn.scalar(select(func.count()).select_from(table)) or 0))
    return counts[0], counts[1], counts[2], counts[3]


async def test_an_auditor_has_no_citizen_pages_and_stores_nothing(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    story = await _story(web, migrated)
    await _sign_in(web, AUDITOR)
    before = await _counts(migrated)
    for path in CITIZEN_PAGES:
        r = await web.get(path)
        assert r.status_code == 303, (path, r.status_code)
        assert r.headers["location"] == "/audit"
    token = {"csrf_token": form_token((await web.get("/settings")).text)}  # auditors keep their settings
    h = {"X-CSRF-Token": token["csrf_token"]}
    for path, form in (("/data", {"given_name": "Prüfer"}), ("/settings/export", {}), ("/settings/delete", {})):
        r = await web.post(path, data={**token, **form, "confirm": "yes"})
        assert (r.status_code, r.headers.get("location")) == (303, "/audit"), path
    api = [
        await web.put("/api/v1/me/attributes/given_name", json={"value": "Prüfer"}, headers=h),
        await web.get("/api/v1/me/attributes"),
        await web.get("/api/v1/me/export"),
        await web.get("/api/v1/me/history"),
        await web.post("/api/v1/me/documents", files=PDF_FILE, data={"kind": "other"}, headers=h),
        await web.delete("/api/v1/me", headers=h),
    ]
    assert [r.status_code for r in api] == [403] * len(api)
    # No consent: the page sends the auditor to /audit, and a decision posted anyway grants nothing.
    request_uri, _, _ = await _push(web, story["agency"])
    page = await web.get(_authorize_url(story["agency"], request_uri))
    assert (page.status_code, page.headers.get("location")) == (303, "/audit")
    form = {"client_id": story["agency"].client_id, "request_uri": request_uri, "decision": "approve"}
    decided = await web.post("/oauth/authorize", data={**form, **token})
    assert (decided.status_code, decided.headers.get("location")) == (303, "/audit")
    assert await _counts(migrated) == before
    # What the auditor keeps: settings without export or erasure, and the audit pages.
    settings = await web.get("/settings")
    assert settings.status_code == 200
    assert "/settings/export" not in settings.text
    assert "/settings/delete" not in settings.text
    assert 'href="/audit/entries"' in settings.text
    assert (await web.get("/api/v1/me/passkeys/")).status_code == 200
    assert (await web.get("/audit")).status_code == 200


async def test_a_disabled_auditor_is_still_no_citizen(web: AsyncTestClient[Any], migrated: Settings) -> None:
    story = await _story(web, migrated)
    async with domain(migrated) as runtime:
        await runtime.services.auditors.disable(story["auditor_id"])
    await _sign_in(web, AUDITOR)
    before = await _counts(migrated)
    r = await web.get("/data")
    assert (r.status_code, r.headers.get("location")) == (303, "/audit")
    assert (await web.get("/audit")).status_code == 403
    h = {"X-CSRF-Token": form_token((await web.get("/settings")).text)}
    assert (await web.put("/api/v1/me/attributes/given_name", json={"value": "X"}, headers=h)).status_code == 403
    assert await _counts(migrated) == before


async def test_what_an_auditor_looks_at_is_shown_to_the_other_auditors(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    await _story(web, migrated)
    async with domain(migrated) as runtime:
        await runtime.services.auditors.add(runtime.services.accounts, SECOND, PASSWORD, "Landesbeauftragte NRW")
    await _sign_in(web, AUDITOR)
    pseudonym = "ab" * 32
    assert (await web.get(f"/audit/entries?action=read&pseudonym={pseudonym}&lang=en")).status_code == 200
    assert (await web.get("/audit/entries.csv?agency=x")).status_code == 200

    await _sign_in(web, SECOND)
    activity = await web.get("/audit/activity?lang=en")
    assert activity.status_code == 200
    rows = re.findall(r"<tr><td>.*?</tr>", activity.text)
    assert "Landesbeauftragte NRW" in rows[0]  # this very visit, newest first
    assert "/audit/activity" in rows[0]
    assert "BfDI, Referat 24" in rows[1]
    assert "/audit/entries.csv" in rows[1]
    assert "agency=x" in rows[1]
    assert "BfDI, Referat 24" in rows[2]
    assert f"action=read&amp;pseudonym={pseudonym}" in rows[2]
    assert "lang=" not in rows[2]
    assert CITIZEN not in activity.text

    await _sign_in(web, AUDITOR)
    seen = await web.get("/audit/activity")
    assert "Landesbeauftragte NRW" in seen.text  # the second auditor's look at this page is recorded too


async def test_audit_views_call_the_actor_citizen_not_you(web: AsyncTestClient[Any], migrated: Settings) -> None:
    await _story(web, migrated)
    history = await web.get("/history")  # the citizen's own history: "Sie"
    assert ">Sie<" in history.text or "Sie<br>" in history.text
    await _sign_in(web, AUDITOR)
    for lang, citizen, you in (("de", "Bürger/in", "Sie"), ("en", "Citizen", "You")):
        entries = await web.get(f"/audit/entries?lang={lang}")
        cells = re.findall(r"<td>([^<]*)(?:<br>|</td>)", entries.text)
        assert citizen in cells, lang
        assert you not in cells, lang
        options = re.findall(r'<option value="citizen"[^>]*>([^<]*)</option>', entries.text)
        assert options in ([], [citizen]), options


async def test_auditor_activity_is_pruned_with_the_logs_retention(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    story = await _story(web, migrated)
    async with domain(migrated) as runtime:
        activity = runtime.services.auditors.activity
        await activity.record(story["auditor_id"], "/audit/entries", [("action", "read")])
        assert [(a.auditor, a.path, a.query) for a in await activity.recent()] == [
            ("BfDI, Referat 24", "/audit/entries", "action=read")
        ]
        assert await activity.prune(datetime.now(UTC) - timedelta(days=1)) == 0
        assert await activity.prune(datetime.now(UTC) + timedelta(seconds=1)) == 1
        assert await activity.recent() == []


async def test_a_padded_or_repeated_filter_is_recorded_as_the_page_applies_it(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    """Junk before the filter cannot push it out of the record; of two values, the one the page used is recorded."""
    await _story(web, migrated)
    await _sign_in(web, AUDITOR)
    assert (await web.get("/audit/entries", params=[("a", "x" * 5000), ("action", "export")])).status_code == 200
    assert (await web.get("/audit/refusals", params=[("agency", "the-real-one"), ("agency", "decoy")])).is_success
    activity = await web.get("/audit/activity")
    rows = re.findall(r"<tr><td>.*?</tr>", activity.text)
    assert "/audit/refusals" in rows[1]
    assert "agency=the-real-one" in rows[1]
    assert "decoy" not in activity.text
    assert "/audit/entries" in rows[2]
    assert "action=export" in rows[2]
    assert "xxxx" not in activity.text
