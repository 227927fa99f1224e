"""The metrics token check and the operators' own listener."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import REGISTRY, Counter

from tests.support.postgres import free_port
from vault.metrics import bearer_matches, start_listener

TOKEN = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),  # the scheme is case-insensitive (RFC 9110 §11.1)
        (None, False),
        ("", False),
        ("Bearer", False),
        ("Bearer ", False),
        (f"Basic {TOKEN}", False),
        (f"Bearer {TOKEN[:-1]}", False),
        (f"Bearer {TOKEN}0", False),
        (f"Bearer {TOKEN.upper()}", False),
    ],
)
def test_bearer_matches_only_the_exact_token(header: str | None, ok: bool) -> None:
    assert bearer_matches(header, TOKEN) is ok


def test_an_empty_token_matches_nothing() -> None:
    assert bearer_matches("Bearer ", "") is False


def test_the_listener_serves_metrics_and_nothing_else() -> None:
    counter = Counter("vault_test_listener_probe", "a metric only this test increments")
    counter.inc(3)
    port = free_port()
    server = start_listener("127.0.0.1", port)
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        assert "vault_test_listener_probe_total 3.0" in r.text
        for path in ("/", "/healthz", "/metrics/../", "/api/v1/me"):
            other = httpx.get(f"http://127.0.0.1:{port}{path}")
            assert other.status_code == 404, path
            assert "vault_test_listener_probe" not in other.text
    finally:
        server.shutdown()
        server.server_close()
        REGISTRY.unregister(counter)
