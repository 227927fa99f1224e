"""Before the start checks passed (here: no schema yet) every request gets the answer it always got.

The services are injected into handlers; until they are built the injection answers 503 like the
handlers' own lookups did, a JSON API request without a session still gets its 401 first, and a
guard that refuses a request still refuses it before anything is looked up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.testing import AsyncTestClient

from vault.app import create_app

if TYPE_CHECKING:
    from vault.config import Settings

UNAVAILABLE = {"error": "temporarily unavailable", "status": 503}


async def test_requests_before_the_vault_is_ready(settings: Settings) -> None:
    async with AsyncTestClient(create_app(settings), base_url=settings.issuer) as c:
        assert (await c.get("/readyz")).status_code == 503
        for path in ("/login", "/register", "/", "/log/checkpoint", "/log/key", "/api/v1/data", "/audit"):
            r = await c.get(path)
            assert (r.status_code, r.json()) == (503, UNAVAILABLE), path
        r = await c.get("/api/v1/me/attributes")
        assert (r.status_code, r.json()) == (401, {"error": "not signed in", "status": 401})
        r = await c.post("/login/passkey/options")
        assert (r.status_code, r.json()["error"]) == (403, "missing or wrong X-CSRF-Token")
        r = await c.post("/login/idp/some-provider", data={"csrf_token": "x"})
        assert (r.status_code, r.json()) == (503, UNAVAILABLE)
