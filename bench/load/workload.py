"""The mixed workload: K citizens, each with its own client, against one real vault over HTTP.

Each client owns one citizen and does one thing at a time, so its model of that citizen's data is
exact: agency reads (with a fresh DPoP proof each), consents (PAR, the consent page, code, token),
revokes (then a read with the revoked token, which must be refused), sign-ins and attribute edits.
Everything a client received is written to a ledger that the checks in :mod:`bench.load.checks`
hold against the vault afterwards.

A request whose answer never arrived (the server was killed) is *uncertain*: an edit may or may
not have been stored, so the model accepts either value until the next acknowledged edit.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from tests.support.agency import TestAgency, pkce_pair

PASSWORD = "ein sehr gutes Passwort"
FIELDS = ("given_name", "family_name", "email")
#: Operation mix, in parts: mostly agency reads, as in production.
MIX = {"read": 60, "edit": 15, "consent": 8, "revoke": 5, "signin": 4, "checkpoint": 8}
UNAVAILABLE_PAUSE_S = 0.05


@dataclass
class OpStats:
    """Latencies (ms) and outcomes of one operation."""

    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    refused: int = 0  # an expected 4xx (a read with a revoked token)
    unavailable: int = 0  # no answer (server down) or 503 (fail closed)
    server_errors: int = 0  # 5xx other than 503
    unexpected: int = 0  # another status than the operation expects

    def add(self, ms: float) -> None:
        self.latencies.append(ms)


@dataclass
class Ledger:
    """What the clients received and were told."""

    read_commitments: list[str] = field(default_factory=list)
    #: (citizen, field) -> values that may be stored now (one when acknowledged, more when uncertain)
    attributes: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    checkpoints: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    stats: dict[str, OpStats] = field(default_factory=lambda: {op: OpStats() for op in MIX})


class Unavailable(Exception):
    """The vault did not answer (connection refused or dropped): the outcome is unknown."""


class SignedOut(Exception):
    """The session is no longer valid (401, or a redirect to the sign-in page)."""


class Citizen:
    """One citizen's browser: cookies kept by hand (``__Host-`` cookies on loopback http)."""

    def __init__(self, http: httpx.AsyncClient, name: str) -> None:
        self.http = http
        self.name = name
        self.cookies: dict[str, str] = {}
        self.tokens: dict[str, str] = {}  # grant id -> access token

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers = {**kwargs.pop("headers", {}), "Cookie": cookie}
        try:
            response = await self.http.request(method, path, headers=headers, **kwargs)
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise Unavailable(type(exc).__name__) from None
        for header in response.headers.get_list("set-cookie"):
            key, _, value = header.split(";", 1)[0].partition("=")
            self.cookies[key] = value
        return response

    async def form_token(self, path: str) -> str:
        page = await self.request("GET", path)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if match is None:
            raise Unavailable(f"{path}: {page.status_code}")
        return match.group(1)

    async def csrf(self) -> str:
        answer = await self.request("GET", "/api/v1/me/csrf")
        if answer.status_code == 401:
            raise SignedOut
        if answer.status_code != 200:
            raise Unavailable(f"csrf: {answer.status_code}")
        return str(answer.json()["csrf_token"])


class Client:
    """One simulated user: a citizen, and the agency's view of that citizen's grants."""

    def __init__(self, base: str, agency: TestAgency, http: httpx.AsyncClient, ledger: Ledger, index: int) -> None:
        self.base = base
        self.agency = agency
        self.ledger = ledger
        self.citizen = Citizen(http, f"load-{index}-{secrets.token_hex(3)}@example.de")
        self.rng = random.Random(index)
        self.http = http
        # A sign-in whose answer never came may have ended the old session (each sign-in starts a
        # new one) while its new cookie was lost: then the client must sign in again, as a person would.
        self.session_uncertain = False

    # -- setup ------------------------------------------------------------------------------

    async def register(self) -> None:
        """Create the account and its first attributes (retried until the vault answers)."""
        form = {"username": self.citizen.name, "password": PASSWORD, "password_confirm": PASSWORD}
        answer = await self.citizen.request(
            "POST", "/register", data={**form, "csrf_token": await self.citizen.form_token("/register")}
        )
        if answer.status_code != 303:
            raise RuntimeError(f"register: {answer.status_code} {answer.text[:200]}")
        for name in FIELDS:
            await self._edit(name)

    # -- operations -------------------------------------------------------------------------

    async def step(self) -> None:
        op = self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if op == "read" and not self.citizen.tokens:
            op = "consent"
        if op == "revoke" and not self.citizen.tokens:
            op = "edit"
        stats = self.ledger.stats[op]
        started = time.perf_counter()
        try:
            await getattr(self, f"_{op}")() if op != "edit" else await self._edit(self.rng.choice(FIELDS))
        except Unavailable:
            stats.unavailable += 1
            await asyncio.sleep(UNAVAILABLE_PAUSE_S)
            return
        except SignedOut:
            if not self.session_uncertain:
                self.ledger.problems.append(f"{op}: the session ended without a sign-in")
                return
            stats.refused += 1
            with contextlib.suppress(Unavailable, SignedOut):
                await self._signin()
            return
        stats.add((time.perf_counter() - started) * 1000)

    def _judge(self, op: str, status: int, expected: int, *, final: bool = True) -> bool:
        """Count the outcome of one answer; ``final=False`` for a step that is not the operation's last."""
        stats = self.ledger.stats[op]
        if status == expected:
            stats.ok += final
            return True
        if status == 503:
            stats.unavailable += 1
        elif status >= 500:
            stats.server_errors += 1
            self.ledger.problems.append(f"{op}: {status}")
        else:
            stats.unexpected += 1
            self.ledger.problems.append(f"{op}: unexpected {status}")
        return False

    async def _edit(self, name: str) -> None:
        value = {"email": f"{secrets.token_hex(4)}@example.de"}.get(name, f"Wert-{secrets.token_hex(4)}")
        key = (self.citizen.name, name)
        possible = self.ledger.attributes.setdefault(key, set())
        headers = {"X-CSRF-Token": await self.citizen.csrf()}
        possible.add(value)  # from now on the vault may hold it, whatever the answer says
        answer = await self.citizen.request(
            "PUT", f"/api/v1/me/attributes/{name}", json={"value": value}, headers=headers
        )
        if self._judge("edit", answer.status_code, 200):
            self.ledger.attributes[key] = {value}
        elif answer.status_code < 500:  # refused: the old value stays
            possible.discard(value)

    async def step_signin(self) -> None:
        """Sign in (used by the checks after a run whose last sign-in went unanswered)."""
        await self._signin()

    async def _signin(self) -> None:
        form = {"username": self.citizen.name, "password": PASSWORD}
        token = await self.citizen.form_token("/login")
        self.session_uncertain = True
        answer = await self.citizen.request("POST", "/login", data={**form, "csrf_token": token})
        if self._judge("signin", answer.status_code, 303):
            self.session_uncertain = False

    async def _consent(self) -> None:
        verifier, challenge = pkce_pair()
        par = await self._post("/oauth/par", data=self.agency.par_form(challenge=challenge))
        if not self._judge("consent", par.status_code, 201, final=False):
            return
        request_uri = par.json()["request_uri"]
        authorize = f"/oauth/authorize?client_id={quote(self.agency.client_id)}&request_uri={quote(request_uri)}"
        page = await self.citizen.request("GET", authorize)
        if page.status_code == 303 and page.headers.get("location", "").startswith("/login"):
            raise SignedOut
        if not self._judge("consent", page.status_code, 200, final=False):
            return
        decision = {"client_id": self.agency.client_id, "request_uri": request_uri, "decision": "approve"}
        answer = await self.citizen.request(
            "POST", "/oauth/authorize", data={**decision, "csrf_token": await self.citizen.csrf()}
        )
        if not self._judge("consent", answer.status_code, 303, final=False):
            return
        code = parse_qs(urlsplit(answer.headers["location"]).query).get("code", [""])[0]
        form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                "redirect_uri": self.agency.redirect_uri, **self.agency.auth()}  # fmt: skip
        url = f"{self.base}/oauth/token"
        token = await self._post("/oauth/token", data=form, headers={"DPoP": self.agency.dpop("POST", url)})
        if self._judge("consent", token.status_code, 200):
            grant = await self._newest_grant()
            if grant is not None:
                self.citizen.tokens[grant] = token.json()["access_token"]

    async def _newest_grant(self) -> str | None:
        grants = await self.citizen.request("GET", "/api/v1/me/grants")
        if grants.status_code != 200:
            return None
        active = [g for g in grants.json()["grants"] if g["status"] == "active" and g["id"] not in self.citizen.tokens]
        return max(active, key=lambda g: g["created_at"])["id"] if active else None

    async def _read(self, token: str | None = None, *, expect: int = 200) -> None:
        token = token or self.rng.choice(list(self.citizen.tokens.values()))
        url = f"{self.base}/api/v1/data"
        answer = await self._get("/api/v1/data", headers={
            "Authorization": f"DPoP {token}", "DPoP": self.agency.dpop("GET", url, token)
        })  # fmt: skip
        if answer.status_code == 200:
            body = answer.json()
            self.ledger.read_commitments.append(body["receipt"]["commitment"])
            if expect != 200:
                self.ledger.problems.append(f"read served with a revoked token (grant {body['grant']['id']})")
            self._check_values(body["attributes"])
        if expect == 200:
            if answer.status_code == 401:  # expired or ended meanwhile: forget the token
                self.citizen.tokens = {g: t for g, t in self.citizen.tokens.items() if t != token}
                self.ledger.stats["read"].refused += 1
                return
            self._judge("read", answer.status_code, 200)
        elif answer.status_code == expect:
            self.ledger.stats["read"].refused += 1
        else:
            self._judge("read", answer.status_code, expect)

    def _check_values(self, attributes: dict[str, Any]) -> None:
        for name, item in attributes.items():
            possible = self.ledger.attributes.get((self.citizen.name, name), set())
            if item["value"] not in possible:
                self.ledger.problems.append(f"read returned {name}={item['value']!r}, not one of {sorted(possible)}")

    async def _revoke(self) -> None:
        grant, token = self.rng.choice(list(self.citizen.tokens.items()))
        headers = {"X-CSRF-Token": await self.citizen.csrf()}
        answer = await self.citizen.request("POST", f"/api/v1/me/grants/{grant}/revoke", headers=headers)
        if answer.status_code in (200, 409):  # 409: it had ended already
            self.ledger.stats["revoke"].ok += 1
            del self.citizen.tokens[grant]
            await self._read(token, expect=401)  # no read after a revoke
        else:
            self._judge("revoke", answer.status_code, 200)

    async def _checkpoint(self) -> None:
        answer = await self._get("/log/checkpoint")
        if self._judge("checkpoint", answer.status_code, 200) and answer.text.count("\n") > 3:
            self.ledger.checkpoints.add(answer.text)

    async def _post(self, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.post(path, **kwargs)
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise Unavailable(type(exc).__name__) from None

    async def _get(self, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.get(path, **kwargs)
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise Unavailable(type(exc).__name__) from None


async def run_clients(clients: list[Client], seconds: float) -> None:
    """Let every client work until ``seconds`` have passed."""
    deadline = time.monotonic() + seconds

    async def work(client: Client) -> None:
        while time.monotonic() < deadline:
            await client.step()

    await asyncio.gather(*(work(c) for c in clients))


async def setup_clients(
    base: str, agency: TestAgency, count: int, ledger: Ledger
) -> tuple[httpx.AsyncClient, list[Client]]:
    """``count`` registered citizens with data, sharing one connection pool."""
    http = httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=count + 4))
    clients = [Client(base, agency, http, ledger, i) for i in range(count)]
    for client in clients:  # one by one: Argon2 for each registration
        await client.register()
    return http, clients
