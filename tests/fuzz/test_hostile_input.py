"""Hostile input against a real ``vault serve``: each case answers 4xx, in time, with bounded memory.

Oversized bodies (with and without ``Content-Length``), deeply nested JSON, megabyte headers and
malformed JWTs (DPoP proofs, client assertions, access tokens). Each request has a client timeout, so
a hang fails the test rather than blocking it; afterwards ``/healthz`` must still answer. Memory is
the server's peak RSS (``VmHWM`` of every process of ``vault serve``, reset before each case): what a
case adds must stay under :data:`RSS_BOUND`. That is a bound on memory, not a timing assertion; the times are printed
(``-s``) for docs/security.md.

Requests go over a plain socket (:func:`exchange`) rather than an HTTP client: a server may answer
413 before the body is sent, and a well-behaved client then stops sending and reads the answer.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import select
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.fuzz.flows import Citizen, grant, register
from tests.support.agency import TestAgency, ath
from tests.support.catalogue import jwks_bytes, service_toml
from tests.support.postgres import free_port
from tests.support.server import RunningVault, serve, vault_cmd

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

MIB = 1024 * 1024
RSS_BOUND = 64 * MIB
TIMEOUT = 60.0  # seconds per request: far above any answer, far below a hang
DEPTH = 100_000  # the brief's depth; such a body is larger than FORM_BODY_LIMIT and refused unread
DEEP_UNDER_LIMIT = 30_000  # 60 KB of brackets: read and parsed
DEEP_IN_A_JWT = 3_000  # nested JSON that still fits a DPoP proof or client assertion (8 KiB)


@dataclass
class HttpxHttp:
    """:class:`tests.fuzz.flows.Http` over httpx (never following redirects)."""

    client: httpx.Client
    base_url: str

    def get(self, path: str, headers: dict[str, str]) -> httpx.Response:
        return self.client.get(path, headers=headers)

    def post(self, path: str, data: dict[str, str], headers: dict[str, str]) -> httpx.Response:
        return self.client.post(path, data=data, headers=headers)


@dataclass
class Target:
    """The running vault, a signed-in citizen, an agency and its access token."""

    vault: RunningVault
    citizen: Citizen
    agency: TestAgency
    token: str

    def url(self, path: str) -> str:
        return self.vault.base_url + path

    def data_headers(self, **replace: str) -> dict[str, str]:
        """A valid agency read of ``/api/v1/data``, with headers replaced."""
        proof = self.agency.dpop("GET", self.url("/api/v1/data"), self.token)
        return {"Authorization": f"DPoP {self.token}", "DPoP": proof, **replace}


@dataclass
class Answer:
    """What came back: the status (``None`` if the connection closed without one) and how long it took."""

    status: int | None
    seconds: float
    body: bytes


def exchange(
    vault: RunningVault, method: str, path: str, headers: dict[str, str], body: Iterable[bytes] = (), length: int = -1
) -> Answer:
    """One request over a fresh connection; stops sending the body as soon as the server answers.

    ``length`` >= 0 sends ``Content-Length``, otherwise a non-empty body goes chunked.
    """
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{vault.port}", "Connection: close"]
    chunked = length < 0 and body != ()
    if length >= 0:
        head.append(f"Content-Length: {length}")
    elif chunked:
        head.append("Transfer-Encoding: chunked")
    head += [f"{k}: {v}" for k, v in headers.items()]
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", vault.port), timeout=TIMEOUT) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        # The server may stop reading once it has answered (413): its answer is read below either way.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for chunk in body:
                if select.select([sock], [], [], 0)[0]:
                    break  # answered early: stop sending, read the answer
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return Answer(None, time.monotonic() - started, b"")
        try:
            content = response.read()
        except (http.client.IncompleteRead, ConnectionResetError):
            content = b""
        return Answer(response.status, time.monotonic() - started, content)


def repeat(chunk: bytes, total: int, prefix: bytes = b"", suffix: bytes = b"") -> Iterator[bytes]:
    """``prefix + chunk * n + suffix`` of ``total`` bytes, a megabyte at a time (never whole in memory)."""
    yield prefix
    left = total - len(prefix) - len(suffix)
    block = chunk * (MIB // len(chunk))
    while left > 0:
        yield block[:left]
        left -= len(block)
    yield suffix


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_jwt(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A JWT with any header (``alg: none`` and friends) and the given signature bytes."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(signature)}"


def hs256_with_public_key(header: dict[str, Any], claims: dict[str, Any], public_pem: bytes) -> str:
    """The algorithm-confusion attack: HS256 keyed with the victim's public key."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def dpop_claims(t: Target, method: str, path: str, token: str | None = None) -> dict[str, Any]:
    claims: dict[str, Any] = {"htm": method, "htu": t.url(path), "iat": int(time.time()), "jti": os.urandom(8).hex()}
    if token:
        claims["ath"] = ath(token)
    return claims


def _public_pem(agency: TestAgency, *, dpop: bool) -> bytes:
    key = agency.dpop_key if dpop else agency.key
    return key.as_pem(private=False)


# --- the cases --------------------------------------------------------------------------------


def big_json_put(t: Target, *, chunked: bool) -> Answer:
    body = repeat(b"a", 50 * MIB, b'{"value": "', b'"}')
    headers = {**t.citizen.headers(), "Content-Type": "application/json"}
    return exchange(t.vault, "PUT", "/api/v1/me/attributes/x", headers, body, -1 if chunked else 50 * MIB)


def big_form(path: str, total: int) -> Callable[[Target], Answer]:
    def send(t: Target) -> Answer:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if path == "/login":
            headers["Cookie"] = "__Host-vault-csrf=x"
        return exchange(t.vault, "POST", path, headers, repeat(b"a=b&", total, b"username=", b""), total)

    return send


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_json_put(depth: int) -> Callable[[Target], Answer]:
    def send(t: Target) -> Answer:
        body = b'{"value": ' + nested(depth).encode() + b"}"
        headers = {**t.citizen.headers(), "Content-Type": "application/json"}
        return exchange(t.vault, "PUT", "/api/v1/me/attributes/given_name", headers, [body], len(body))

    return send


def deep_json_passkey(depth: int) -> Callable[[Target], Answer]:
    def send(t: Target) -> Answer:
        body = b'{"id": ' + nested(depth).encode() + b"}"
        headers = {**t.citizen.headers(), "Content-Type": "application/json"}
        return exchange(t.vault, "POST", "/api/v1/me/passkeys", headers, [body], len(body))

    return send


def deep_authorization_details(depth: int) -> Callable[[Target], Answer]:
    def send(t: Target) -> Answer:
        body = urlencode(t.agency.par_form(authorization_details=nested(depth))).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return exchange(t.vault, "POST", "/oauth/par", headers, [body], len(body))

    return send


def deep_jwt_header(depth: int) -> str:
    """A compact JWT whose JOSE header is JSON nested ``depth`` deep."""
    return f"{b64(nested(depth).encode())}.{b64(b'{}')}.{b64(b'x')}"


def deep_dpop_header(depth: int) -> Callable[[Target], Answer]:
    def send(t: Target) -> Answer:
        return exchange(t.vault, "GET", "/api/v1/data", t.data_headers(DPoP=deep_jwt_header(depth)))

    return send


def deep_client_assertion(t: Target) -> Answer:
    body = urlencode(t.agency.par_form(client_assertion=deep_jwt_header(DEEP_IN_A_JWT))).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return exchange(t.vault, "POST", "/oauth/par", headers, [body], len(body))


def long_header(name: str, size: int) -> Callable[[Target], Answer]:
    def send(t: Target) -> Answer:
        if name == "Cookie":
            headers = {"Cookie": "__Host-vault=" + "a" * size}
            return exchange(t.vault, "GET", "/api/v1/me/attributes", headers)
        value = ("DPoP " if name == "Authorization" else "") + "a" * size
        return exchange(t.vault, "GET", "/api/v1/data", t.data_headers(**{name: value}))

    return send


def bad_dpop(kind: str, path: str = "/api/v1/data") -> Callable[[Target], Answer]:
    """A malformed DPoP proof on an agency read (``/api/v1/data``) or at the token endpoint."""

    def send(t: Target) -> Answer:
        method = "GET" if path == "/api/v1/data" else "POST"
        token = t.token if method == "GET" else None
        claims = dpop_claims(t, method, path, token)
        jwk = t.agency.dpop_key.as_dict(private=False)
        proofs = {
            "garbage": "this is not a jwt",
            "two segments": "eyJhbGciOiJFUzI1NiJ9.e30",
            "four segments": "a.b.c.d",
            "not base64": "!!!.@@@.###",
            "huge": "a" * 128 * 1024 + "." + "b" * 128 * 1024 + ".c",  # 256 KiB
            "alg none": unsigned_jwt({"alg": "none", "typ": "dpop+jwt", "jwk": jwk}, claims),
            "alg HS256, public key as secret": hs256_with_public_key(
                {"alg": "HS256", "typ": "dpop+jwt", "jwk": jwk}, claims, _public_pem(t.agency, dpop=True)
            ),
        }
        if method == "GET":
            return exchange(t.vault, "GET", path, t.data_headers(DPoP=proofs[kind]))
        form = {"grant_type": "refresh_token", "refresh_token": "x", **t.agency.auth()}
        body = urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "DPoP": proofs[kind]}
        return exchange(t.vault, "POST", path, headers, [body], len(body))

    return send


def bad_client_assertion(kind: str) -> Callable[[Target], Answer]:
    """A malformed ``private_key_jwt`` at the PAR endpoint."""

    def send(t: Target) -> Answer:
        now = int(time.time())
        claims = {"iss": t.agency.client_id, "sub": t.agency.client_id, "aud": t.vault.base_url, "iat": now,
                  "exp": now + 60, "jti": os.urandom(8).hex()}  # fmt: skip
        assertions = {
            "garbage": "this is not a jwt",
            "four segments": "a.b.c.d",
            "not base64": "!!!.@@@.###",
            "huge": "a" * 30 * 1024 + "." + "b" * 30 * 1024 + ".c",  # 60 KiB: still under the form limit
            "alg none": unsigned_jwt({"alg": "none", "kid": t.agency.kid}, claims),
            "alg HS256, public key as secret": hs256_with_public_key(
                {"alg": "HS256", "kid": t.agency.kid}, claims, _public_pem(t.agency, dpop=False)
            ),
        }
        form = t.agency.par_form(client_assertion=assertions[kind])
        body = urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return exchange(t.vault, "POST", "/oauth/par", headers, [body], len(body))

    return send


def bad_access_token(value: str) -> Callable[[Target], Answer]:
    def send(t: Target) -> Answer:
        return exchange(t.vault, "GET", "/api/v1/data", t.data_headers(Authorization=value))

    return send


JWT_MALFORMED = ("garbage", "four segments", "not base64", "huge", "alg none", "alg HS256, public key as secret")
DPOP_MALFORMED = ("two segments", *JWT_MALFORMED)

CASES: dict[str, Callable[[Target], Answer]] = {
    "50 MiB JSON, Content-Length, PUT /api/v1/me/attributes/x": lambda t: big_json_put(t, chunked=False),
    "50 MiB JSON, chunked, PUT /api/v1/me/attributes/x": lambda t: big_json_put(t, chunked=True),
    "50 MiB form, POST /oauth/par": big_form("/oauth/par", 50 * MIB),
    "50 MiB form, POST /login": big_form("/login", 50 * MIB),
    "20 MiB form, POST /oauth/par": big_form("/oauth/par", 20 * MIB),
    "20 MiB form, POST /login": big_form("/login", 20 * MIB),
    "JSON nested 100k deep, PUT /api/v1/me/attributes/given_name": deep_json_put(DEPTH),
    "JSON nested 30k deep, PUT /api/v1/me/attributes/given_name": deep_json_put(DEEP_UNDER_LIMIT),
    "JSON nested 100k deep, POST /api/v1/me/passkeys": deep_json_passkey(DEPTH),
    "JSON nested 30k deep, POST /api/v1/me/passkeys": deep_json_passkey(DEEP_UNDER_LIMIT),
    "authorization_details nested 100k deep, POST /oauth/par": deep_authorization_details(DEPTH),
    "authorization_details nested 10k deep, POST /oauth/par": deep_authorization_details(10_000),
    "DPoP JOSE header nested 100k deep, GET /api/v1/data": deep_dpop_header(DEPTH),
    "DPoP JOSE header nested 3k deep, GET /api/v1/data": deep_dpop_header(DEEP_IN_A_JWT),
    "client_assertion JOSE header nested 3k deep, POST /oauth/par": deep_client_assertion,
    "1 MiB Authorization header, GET /api/v1/data": long_header("Authorization", MIB),
    "1 MiB DPoP header, GET /api/v1/data": long_header("DPoP", MIB),
    "1 MiB Cookie header, GET /api/v1/me/attributes": long_header("Cookie", MIB),
    "64 KiB DPoP header, GET /api/v1/data": long_header("DPoP", 64 * 1024),
    **{f"DPoP {kind}, GET /api/v1/data": bad_dpop(kind) for kind in DPOP_MALFORMED},
    **{f"DPoP {kind}, POST /oauth/token": bad_dpop(kind, "/oauth/token") for kind in JWT_MALFORMED},
    **{f"client_assertion {kind}, POST /oauth/par": bad_client_assertion(kind) for kind in JWT_MALFORMED},
    "access token not base64/ASCII junk, GET /api/v1/data": bad_access_token("DPoP !!!\t@@@"),
    "access token a JWT, alg none, GET /api/v1/data": bad_access_token("DPoP " + unsigned_jwt({"alg": "none"}, {})),
    "Bearer scheme for a DPoP token, GET /api/v1/data": bad_access_token("Bearer abc"),
}


# --- the server and its memory ------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (granian runs the app in worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def _status_kib(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peaks(root: int) -> dict[int, int]:
    """Reset ``VmHWM`` to the current RSS in every process of the tree (``clear_refs`` 5); the baselines.

    Without the reset a spike below an earlier peak (start-up, a previous case) would not show.
    Where the kernel refuses, the old peak stays the baseline: the measure is then only weaker.
    """
    baselines = {}
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass
        if (peak := _status_kib(pid, "VmHWM")) is not None:
            baselines[pid] = peak
    return baselines


def peak_rss(root: int) -> dict[int, int]:
    """``VmHWM`` (peak resident set) in bytes of each process of the tree."""
    return {pid: peak for pid in process_tree(root) if (peak := _status_kib(pid, "VmHWM")) is not None}


def growth(before: dict[int, int], after: dict[int, int]) -> int:
    """The largest rise of any one process's peak (a new process counts from zero)."""
    return max((peak - before.get(pid, 0) for pid, peak in after.items()), default=0)


FIGURES: list[tuple[str, int | None, float, int]] = []


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """``vault serve`` on SQLite with a citizen who has a session and an agency that has a token."""
    tmp = tmp_path_factory.mktemp("hostile")
    port = free_port()
    env = {"VAULT_DATA_DIR": str(tmp / "var"), "VAULT_ISSUER": f"http://127.0.0.1:{port}"}
    with serve(tmp, env, port=port) as vault:
        agency = TestAgency(vault.base_url)
        (tmp / "jwks.json").write_bytes(jwks_bytes(agency.jwks()))
        added = vault_cmd("agency", "add", "--name", "Amt", "--redirect-uri", agency.redirect_uri,
                          "--jwks", str(tmp / "jwks.json"), env=env)  # fmt: skip
        assert added.returncode == 0, added.stderr
        agency.client_id = json.loads(added.stdout)["client_id"]
        (tmp / "service.toml").write_bytes(service_toml(agency.client_id, access='access = "ongoing"'))
        assert vault_cmd("service", "add", str(tmp / "service.toml"), env=env).returncode == 0
        with httpx.Client(base_url=vault.base_url, timeout=TIMEOUT) as client:
            http = HttpxHttp(client, vault.base_url)
            citizen = register(http)
            token = grant(http, agency, citizen)
        yield Target(vault, citizen, agency, token)
    _print_figures()


def _print_figures() -> None:
    print(f"\n{'case':<66} {'status':>6} {'time':>8} {'peak RSS +':>11}")
    for name, status, seconds, grown in FIGURES:
        print(f"{name:<66} {status!s:>6} {seconds * 1000:>6.0f} ms {grown / MIB:>7.1f} MiB")


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_gets_a_4xx_with_bounded_memory(target: Target, name: str) -> None:
    before = reset_peaks(target.vault.process.pid)
    answer = CASES[name](target)
    after = peak_rss(target.vault.process.pid)
    FIGURES.append((name, answer.status, answer.seconds, growth(before, after)))
    assert answer.status is not None, target.vault.log()[-3000:]
    assert 400 <= answer.status < 500, (answer, target.vault.log()[-3000:])
    assert httpx.get(target.url("/healthz"), timeout=TIMEOUT).status_code == 200, target.vault.log()[-3000:]
    assert growth(before, after) < RSS_BOUND, f"peak RSS grew by {growth(before, after) / MIB:.1f} MiB"


def test_the_server_logged_no_unhandled_error(target: Target) -> None:
    """After all the cases above (it runs last): not one of them reached the catch-all 500 handler."""
    assert "unhandled error" not in target.vault.log()
    assert "Traceback" not in target.vault.log()
