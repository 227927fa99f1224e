"""Logs are JSON, carry the request id, and never contain a body, query, header or cookie value."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

from litestar.testing import AsyncTestClient

from vault.app import create_app
from vault.logs import configure_logging

if TYPE_CHECKING:
    from vault.config import Settings

SECRET_BODY = "Erika-Mustermann-body-marker"
SECRET_COOKIE = "session-cookie-marker-4711"
SECRET_QUERY = "tax-id-query-marker-12345678911"


async def test_request_lines_are_json_with_request_id_and_no_personal_data(migrated: Settings) -> None:
    stream = io.StringIO()
    configure_logging("debug", stream)
    try:
        async with AsyncTestClient(create_app(migrated)) as client:
            client.cookies.set("__Host-session", SECRET_COOKIE)
            await client.post(f"/healthz?q={SECRET_QUERY}", content=SECRET_BODY, headers={"X-Custom": SECRET_BODY})
            ok = await client.get("/healthz", headers={"X-Request-ID": "trace-from-proxy-01"})
            assert ok.headers["x-request-id"] == "trace-from-proxy-01"
            broken = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
            assert broken.headers["x-request-id"] != "bad id\twith spaces"
    finally:
        configure_logging("info")
    output = stream.getvalue()
    for marker in (SECRET_BODY, SECRET_COOKIE, SECRET_QUERY):
        assert marker not in output
    records = [json.loads(line) for line in output.splitlines()]
    access = [r for r in records if r.get("logger") == "vault.access"]
    assert len(access) == 3
    assert all(r["request_id"] for r in access)
    assert [(r["route"], r["status"]) for r in access] == [("<unrouted>", 405), ("/healthz", 200), ("/healthz", 200)]
    assert any(r["request_id"] == "trace-from-proxy-01" for r in access)
    in_request = [r for r in records if r.get("logger") != "vault.runtime"]
    assert all("request_id" in r for r in in_request if r.get("logger", "").startswith("vault."))
