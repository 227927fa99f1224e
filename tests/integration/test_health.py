from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.testing import AsyncTestClient

from vault.app import create_app
from vault.db.engine import create_engine
from vault.db.migrate import upgrade

if TYPE_CHECKING:
    from vault.config import Settings


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
        assert r.json() == {"status": "unavailable"}
        engine = create_engine(settings)
        await upgrade(engine)
        await engine.dispose()
        r = await c.get("/readyz")
        assert r.status_code == 200
        assert r.json() == {"status": "ready"}


async def test_metrics_count_requests_and_time_them_by_route(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    for _ in range(3):
        await client.get("/healthz")
    await client.get("/no/such/page")
    text = (await client.get("/metrics")).text
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
