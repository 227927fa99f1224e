"""A citizen's sign-in time while one client floods ``/register`` and ``/login/passkey/options``.

``python -m bench.flood [--requests N] [--at-once K] [--samples S]`` starts ``vault serve`` (SQLite,
loopback, ``VAULT_TRUSTED_PROXIES=127.0.0.1`` so ``X-Forwarded-For`` tells the flooder and the citizen
apart), registers a citizen, and times S password sign-ins: alone, then during a flood of N
registrations and N passkey challenges (K at a time), and after it, with the default limits and with
the limits off (``0``: what the vault did before they existed). Prints median and 95th percentile,
and what the flood got. Everything stays on this machine and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.support.postgres import free_port
from tests.support.server import serve
from vault.api.auth import FORM_CSRF_COOKIE

PASSWORD = "ein sehr gutes Passwort"
CITIZEN, FLOODER = "198.51.100.20", "203.0.113.66"


async def _token(client: httpx.AsyncClient, path: str) -> str:
    """The form's CSRF token, also sent as its double-submit cookie (httpx keeps ``Secure`` cookies off http)."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', (await client.get(path)).text)
    assert match
    client.headers["Cookie"] = f"{FORM_CSRF_COOKIE}={match.group(1)}"
    return match.group(1)


def _client(base: str, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, headers={"X-Forwarded-For": address}, timeout=120)


async def _register(base: str, name: str, address: str) -> int:
    async with _client(base, address) as web:
        data = {"username": name, "password": PASSWORD, "password_confirm": PASSWORD}
        return (await web.post("/register", data={**data, "csrf_token": await _token(web, "/register")})).status_code


async def _sign_in(base: str) -> float:
    async with _client(base, CITIZEN) as web:
        token = await _token(web, "/login")
        started = time.perf_counter()
        answer = await web.post(
            "/login", data={"username": "buergerin@example.de", "password": PASSWORD, "csrf_token": token}
        )
        elapsed = time.perf_counter() - started
    assert answer.status_code == 303, answer.status_code
    return elapsed


async def _flood(base: str, requests: int, at_once: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    gate = asyncio.Semaphore(at_once)
    async with _client(base, FLOODER) as web:
        token = await _token(web, "/login")

        async def register(i: int) -> None:
            async with gate:
                seen[f"register {await _register(base, f'flut{i}@example.de', FLOODER)}"] += 1

        async def options() -> None:
            async with gate:
                answer = await web.post("/login/passkey/options", headers={"X-CSRF-Token": token})
                seen[f"options {answer.status_code}"] += 1

        await asyncio.gather(*(register(i) for i in range(requests)), *(options() for _ in range(requests)))
    return seen


def _figures(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"median {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (n={len(ordered)})"


async def _measure(base: str, requests: int, at_once: int, samples: int) -> dict[str, Any]:
    assert await _register(base, "buergerin@example.de", CITIZEN) == 303
    alone = [await _sign_in(base) for _ in range(samples)]
    flood = asyncio.create_task(_flood(base, requests, at_once))
    during: list[float] = []
    while not flood.done() and len(during) < samples:
        during.append(await _sign_in(base))
    seen = await flood
    after = [await _sign_in(base) for _ in range(samples)]
    return {
        "alone": _figures(alone),
        "during flood": _figures(during),
        "after flood": _figures(after),
        "flood answers": dict(sorted(seen.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="registrations and challenges the flood sends, each")
    parser.add_argument("--at-once", type=int, default=8)
    parser.add_argument("--samples", type=int, default=20, help="sign-ins timed per phase")
    args = parser.parse_args()
    for label, limits in (
        ("default limits", {}),
        ("limits off", {"VAULT_REGISTER_LIMIT": "0", "VAULT_CHALLENGE_LIMIT": "0"}),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            env = {"VAULT_DATA_DIR": str(Path(tmp) / "var"), "VAULT_ISSUER": f"http://localhost:{port}",
                   "VAULT_TRUSTED_PROXIES": "127.0.0.1", "VAULT_LOG_LEVEL": "warning", **limits}  # fmt: skip
            with serve(Path(tmp), env, port=port) as running:
                result = asyncio.run(_measure(running.url_for("localhost"), args.requests, args.at_once, args.samples))
        print(f"{label}: {result}")


if __name__ == "__main__":
    main()
