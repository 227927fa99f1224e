"""Sensitive account operations need a recent sign-in at the account's highest level (issue 15 item 1).

Adding or removing a passkey, ending the other sessions, exporting and erasing: a session older than
five minutes, or one below the account's best passkey, is refused (JSON: 403
``reauthentication_required``; pages: a redirect to sign in again) and nothing changes. Old sessions
are made with a start time in the past, so nothing sleeps.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from tests.support.passkeys import OLD, add_passkey, citizen_id, new_authenticator, passkey_login, use_session
from tests.support.web import PASSWORD, csrf_header, domain, form_token, register, session_token

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

    from tests.support.soft_authenticator import SoftAuthenticator
    from vault.config import Settings


async def _api_refusals(web: AsyncTestClient[Any], passkey_id: str, credential: str) -> list[Any]:
    """Every sensitive JSON operation, as the client's session."""
    h = await csrf_header(web)
    return [
        await web.post("/api/v1/me/passkeys/options", headers=h),
        await web.post("/api/v1/me/passkeys", content=credential, headers=h),
        await web.delete(f"/api/v1/me/passkeys/{passkey_id}", headers=h),
        await web.get("/api/v1/me/export"),
        await web.delete("/api/v1/me", headers=h),
    ]


async def _page_refusals(web: AsyncTestClient[Any], passkey_id: str) -> dict[str, Any]:
    """Every sensitive page operation, as the client's session; keyed by where it returns to."""
    csrf = await session_token(web)
    return {
        "remove passkey": await web.post(f"/settings/passkeys/{passkey_id}/delete", data={"csrf_token": csrf}),
        "end others": await web.post("/settings/sessions/end-others", data={"csrf_token": csrf}),
        "export": await web.post("/settings/export", data={"csrf_token": csrf}),
        "confirm delete": await web.get("/settings/delete"),
        "delete": await web.post("/settings/delete", data={"csrf_token": csrf, "confirm": "yes"}),
    }


def _assert_refused(api: list[Any], pages: dict[str, Any], level: str) -> None:
    for r in api:
        assert r.status_code == 403, (r.request.method, r.request.url, r.text)
        body = r.json()
        assert body.pop("error_description").startswith(f"sign in again (at level {level}")
        assert body == {"error": "reauthentication_required", "status": 403, "max_age": 300, "level": level}
    back = {"confirm delete": "/settings/delete", "delete": "/settings/delete"}
    for name, r in pages.items():
        assert r.status_code == 303, (name, r.text)
        location = urlsplit(r.headers["location"])
        assert location.path == "/login", name
        assert parse_qs(location.query) == {"reauth": [level], "next": [back.get(name, "/settings")]}, name


async def _fresh_options_credential(web: AsyncTestClient[Any], auth: SoftAuthenticator) -> str:
    """A valid registration response, from options a fresh session of the same citizen got."""
    options = await web.post("/api/v1/me/passkeys/options", headers=await csrf_header(web))
    assert options.status_code == 200, options.text
    return auth.create(options.json())


async def _assert_nothing_changed(web: AsyncTestClient[Any], settings: Settings, old_token: str, passkeys: int) -> None:
    """As a fresh session: the passkeys and the refused session are still there; no export or erasure was logged."""
    assert len((await web.get("/api/v1/me/passkeys")).json()["passkeys"]) == passkeys
    actions = {e["action"] for e in (await web.get("/api/v1/me/history")).json()["entries"]}
    assert "export" not in actions
    assert "erase" not in actions
    async with domain(settings) as runtime:
        assert await runtime.services.session_service.resolve(old_token) is not None  # "end others" ended nothing


async def test_a_session_older_than_five_minutes_is_refused_every_sensitive_operation(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    await register(web, "old@example.de")
    auth = new_authenticator()
    assert (await add_passkey(web, auth)).status_code == 201  # a fresh password session may
    passkey_id = (await web.get("/api/v1/me/passkeys")).json()["passkeys"][0]["id"]
    credential = await _fresh_options_credential(web, new_authenticator())
    cid = await citizen_id(migrated, "old@example.de")
    old = await use_session(web, migrated, cid, "basic", age=OLD)
    _assert_refused(await _api_refusals(web, passkey_id, credential), await _page_refusals(web, passkey_id), "basic")
    assert (await web.get("/settings")).status_code == 200  # still signed in: only the sensitive steps ask
    await use_session(web, migrated, cid, "basic")
    await _assert_nothing_changed(web, migrated, old, passkeys=1)


async def test_a_password_session_is_refused_when_the_account_has_a_substantial_passkey(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    await register(web, "strongkey@example.de")
    cid = await citizen_id(migrated, "strongkey@example.de")
    await use_session(web, migrated, cid, "substantial")
    auth = new_authenticator()
    assert (await add_passkey(web, auth)).json()["assurance"] == "substantial"
    passkey_id = (await web.get("/api/v1/me/passkeys")).json()["passkeys"][0]["id"]
    credential = await _fresh_options_credential(web, new_authenticator())
    web.cookies.clear()
    page = await web.get("/login")
    data = {"username": "strongkey@example.de", "password": PASSWORD, "csrf_token": form_token(page.text)}
    assert (await web.post("/login", data=data)).status_code == 303  # a fresh password sign-in: basic
    password_session = web.cookies.get("__Host-vault")
    assert password_session
    _assert_refused(
        await _api_refusals(web, passkey_id, credential), await _page_refusals(web, passkey_id), "substantial"
    )
    web.cookies.clear()
    assert (await passkey_login(web, auth)).status_code == 200  # the passkey is the way in for these steps
    await _assert_nothing_changed(web, migrated, password_session, passkeys=1)
    h = await csrf_header(web)
    assert (await web.delete(f"/api/v1/me/passkeys/{passkey_id}", headers=h)).status_code == 204


async def test_a_recent_sign_in_at_the_right_level_may_do_each_of_them(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    await register(web, "fresh@example.de")
    assert (await add_passkey(web, new_authenticator())).status_code == 201
    passkey_id = (await web.get("/api/v1/me/passkeys")).json()["passkeys"][0]["id"]
    assert (await web.get("/api/v1/me/export")).status_code == 200
    csrf = await session_token(web)
    assert (await web.post("/settings/export", data={"csrf_token": csrf})).status_code == 200
    assert (await web.post("/settings/sessions/end-others", data={"csrf_token": csrf})).status_code == 303
    r = await web.post(f"/settings/passkeys/{passkey_id}/delete", data={"csrf_token": csrf})
    assert (r.status_code, r.headers["location"]) == (303, "/settings")
    assert (await web.get("/settings/delete")).status_code == 200
    r = await web.post("/settings/delete", data={"csrf_token": csrf, "confirm": "yes"})
    assert (r.status_code, r.headers["location"]) == (303, "/login?erased=1")


async def test_signing_in_again_returns_to_the_page_and_then_the_step_works(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    await register(web, "again@example.de")
    cid = await citizen_id(migrated, "again@example.de")
    await use_session(web, migrated, cid, "basic", age=OLD)
    settings = await web.get("/settings")
    assert "Erneut anmelden" in settings.text  # the page says why the steps below will ask
    r = await web.post("/settings/sessions/end-others", data={"csrf_token": form_token(settings.text)})
    reauth = r.headers["location"]
    page = await web.get(reauth)
    assert "Für diesen Schritt melden Sie sich bitte erneut an" in page.text
    assert re.search(r'name="next" value="/settings"', page.text)
    data = {
        "username": "again@example.de",
        "password": PASSWORD,
        "csrf_token": form_token(page.text),
        "next": "/settings",
    }
    r = await web.post("/login", data=data)
    assert (r.status_code, r.headers["location"]) == (303, "/settings")
    settings = await web.get("/settings")
    assert "Erneut anmelden" not in settings.text
    r = await web.post("/settings/sessions/end-others", data={"csrf_token": form_token(settings.text)})
    assert r.status_code == 303
    assert r.headers["location"].startswith("/settings?ended=")


async def test_the_sign_in_page_returns_only_to_a_path_of_this_site(web: AsyncTestClient[Any]) -> None:
    await register(web, "nowhere@example.de")
    web.cookies.clear()
    for target in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
    ]:
        page = await web.get("/login", params={"reauth": "basic", "next": target})
        assert 'name="next" value="/"' in page.text
        data = {"username": "nowhere@example.de", "password": PASSWORD, "csrf_token": form_token(page.text)}
        r = await web.post("/login", data={**data, "next": target})
        assert r.headers["location"] == "/", target


async def test_the_overview_tells_when_a_passkey_was_added(web: AsyncTestClient[Any]) -> None:
    await register(web, "notice@example.de")
    assert "Ein Passkey wurde am" not in (await web.get("/")).text
    assert (await add_passkey(web, new_authenticator())).status_code == 201
    home = await web.get("/")
    assert re.search(r"Ein Passkey wurde am <time[^>]*>[^<]+</time> hinzugefügt\. Waren Sie das nicht\?", home.text)
    assert "Entfernen Sie ihn unter Einstellungen und melden Sie dort Ihre anderen Sitzungen ab." in home.text
    english = await web.get("/", params={"lang": "en"})
    assert "A passkey was added on" in english.text
