from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from litestar.testing import AsyncTestClient

from vault.api.health import NOT_READY_REASON
from vault.app import create_app
from vault.db.engine import create_engine
from vault.db.migrate import upgrade
from vault.runtime import INTEGRATION_INTERVAL_S

if TYPE_CHECKING:
    from vault.config import Settings

TOKEN = "0123456789abcdef" * 4


async def test_healthz(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert len(r.headers["x-request-id"]) == 32


async def test_readyz_is_503_until_the_schema_exists(settings: Settings) -> None:
    async with AsyncTestClient(create_app(settings)) as c:
        assert (await c.get("/healthz")).status_code == 200
        r = await c.get("/readyz")
        assert r.status_code == 503
        assert r.json() == {"status": "not ready", "reason": NOT_READY_REASON}
        engine = create_engine(settings)
        await upgrade(engine)
        await engine.dispose()
        # /readyz only reports: the runtime's background start checks notice the schema within a round or two
        deadline = asyncio.get_running_loop().time() + 10 * INTEGRATION_INTERVAL_S
        while (r := await c.get("/readyz")).status_code == 503 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(INTEGRATION_INTERVAL_S / 5)
        assert r.status_code == 200
        assert r.json() == {"status": "ready"}


async def test_metrics_are_not_served_on_the_public_listener(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    await client.get("/healthz")
    for headers in ({}, {"Authorization": "Bearer anything"}):
        r = await client.get("/metrics", headers=headers)
        assert r.status_code == 404
        assert "vault_requests_total" not in r.text


async def test_metrics_token_guards_metrics_and_they_count_requests_by_route(migrated: Settings) -> None:
    migrated.metrics_token = TOKEN
    async with AsyncTestClient(create_app(migrated)) as client:
        for _ in range(3):
            await client.get("/healthz")
        await client.get("/no/such/page")
        wrong = [{}, {"Authorization": f"Bearer {TOKEN[:-1]}x"}, {"Authorization": f"Basic {TOKEN}"},
                 {"Authorization": f"Bearer {TOKEN}{TOKEN}"}, {"Authorization": "Bearer"}]  # fmt: skip
        for headers in wrong:
            r = await client.get("/metrics", headers=headers)
            assert r.status_code == 401, headers
            assert r.headers["www-authenticate"] == 'Bearer realm="metrics"'
            assert "vault_requests_total" not in r.text
        r = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        text = r.text
    assert 'vault_requests_total{app_name="vault",method="GET",path="/healthz",status_code="200"}' in text
    assert 'vault_request_duration_seconds_bucket{app_name="vault",le="0.005",method="GET",path="/healthz"' in text
    assert "/no/such/page" not in text


async def test_openapi_schema_lists_operator_endpoints(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    schema = r.json()
    assert schema["openapi"].startswith("3.")
    assert {"/healthz", "/readyz"} <= set(schema["paths"])


async def test_unknown_path_is_a_json_404(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    r = await client.get("/nope")
    assert r.status_code == 404
    assert r.json()["status"] == 404
