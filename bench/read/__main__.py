"""Agency data reads against a bare Litestar hello-world, same ASGI server and workers, in one run.

For each database (SQLite, PostgreSQL when ``initdb`` is installed) a real ``vault serve`` (granian)
is set up the way an agency meets it: an agency registered by CLI, a service with 5 fields, a
citizen with those 5 attributes, the OAuth flow done over HTTP (PAR, consent, token). Then ``wrk``
(Debian package ``wrk``, one thread, 32 connections) sends ``GET /api/v1/data`` with the access
token and a fresh DPoP proof per request (pre-signed, one per request, fed by a Lua script): each
read verifies the proof, checks and locks the grant, appends a durable log entry, unwraps the key
and decrypts 5 attributes. The same ``wrk`` run against ``bench.hello:litestar_app`` under the same
server and worker count is the baseline.

Goal (consent issue): read throughput at least 0.2 of hello-world throughput, p99 at most 50 ms.

    make bench-read            # or: .venv/bin/python -m bench.read --duration 10 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from bench.asgi_servers import free_port, wait_up
from tests.support.agency import TestAgency, pkce_pair
from tests.support.browser import LoopbackBrowser
from tests.support.catalogue import service_toml
from tests.support.postgres import find_bindir, postgres_server

if TYPE_CHECKING:
    from collections.abc import Iterator

FIELDS = ["given_name", "family_name", "birth_date", "address", "email"]
VALUES: dict[str, Any] = {
    "given_name": "Erika",
    "family_name": "Mustermann",
    "birth_date": "1964-08-12",
    "address": {"street": "Heidestraße", "house_number": "17", "postal_code": "51147", "city": "Köln", "country": "DE"},
    "email": "erika@example.de",
}
LUA = """
local proofs = {}
for line in io.lines(os.getenv("BENCH_PROOFS")) do proofs[#proofs + 1] = line end
local token = os.getenv("BENCH_TOKEN")
local next_proof = 0
request = function()
  next_proof = next_proof + 1
  return wrk.format("GET", "/api/v1/data", {["Authorization"] = "DPoP " .. token, ["DPoP"] = proofs[next_proof]})
end
"""


def _vault(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "vault.cli", *args], capture_output=True, text=True, env=env, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"vault {' '.join(args)} failed: {result.stderr}")
    return result.stdout


@contextlib.contextmanager
def _process(cmd: list[str], env: dict[str, str], url: str, log: Path) -> Iterator[None]:
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_up(url)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _setup(base: str, agency: TestAgency) -> str:
    """Register the citizen, store the 5 attributes, run the OAuth flow; returns the access token."""
    citizen = LoopbackBrowser(base)
    citizen.register("bench@example.de", "ein sehr gutes Passwort")
    csrf = {"X-CSRF-Token": citizen.api_csrf()}
    for name, value in VALUES.items():
        assert citizen.request("PUT", f"/api/v1/me/attributes/{name}", json={"value": value}, headers=csrf).is_success
    verifier, challenge = pkce_pair()
    par = httpx.post(f"{base}/oauth/par", data=agency.par_form(challenge=challenge))
    assert par.status_code == 201, par.text
    request_uri = par.json()["request_uri"]
    authorize = f"/oauth/authorize?client_id={quote(agency.client_id)}&request_uri={quote(request_uri)}"
    assert citizen.request("GET", authorize).status_code == 200
    decision = {"client_id": agency.client_id, "request_uri": request_uri, "decision": "approve"}
    answer = citizen.request("POST", "/oauth/authorize", data={**decision, "csrf_token": csrf["X-CSRF-Token"]})
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    token_form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                  "redirect_uri": agency.redirect_uri, **agency.auth()}  # fmt: skip
    token = httpx.post(
        f"{base}/oauth/token", data=token_form, headers={"DPoP": agency.dpop("POST", f"{base}/oauth/token")}
    )
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"])


def _wrk(
    url: str, duration: int, connections: int, env: dict[str, str] | None = None, script: Path | None = None
) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run(
        [*cmd, url], capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99, p50 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out), re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    assert p99 is not None, out
    assert p50 is not None, out
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "rps": rps,
        "p50_ms": float(p50.group(1)) * scale[p50.group(2)],
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)],
        "errors": float(bad.group(1)) if bad else 0.0,
        "requests": float(total.group(1)) if total else 0.0,
    }


def _server_cmd(app: str, port: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "granian", "--interface", "asgi", "--port", str(port), "--workers", str(workers),
            "--no-access-log", "--log-level", "warning", app]  # fmt: skip


def run_backend(name: str, database_url: str | None, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Hello-world baseline and agency reads for one database."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update({"VAULT_DATA_DIR": str(tmp / name), "VAULT_ISSUER": base, "VAULT_LOG_LEVEL": "warning"})
    if database_url:
        env["VAULT_DATABASE_URL"] = database_url
    _vault("db", "upgrade", env=env)
    agency = TestAgency(base)
    (tmp / f"{name}-jwks.json").write_text(json.dumps(agency.jwks()))
    agency.client_id = json.loads(
        _vault(
            "agency",
            "add",
            "--name",
            "Bench",
            "--redirect-uri",
            agency.redirect_uri,
            "--jwks",
            str(tmp / f"{name}-jwks.json"),
            env=env,
        )
    )["client_id"]
    fields = "fields = [" + ", ".join(f'"{f}"' for f in FIELDS) + "]"
    (tmp / f"{name}.toml").write_bytes(
        service_toml(
            agency.client_id, access='access = "ongoing"', fields=fields, optional_fields="optional_fields = []"
        )
    )
    _vault("service", "add", str(tmp / f"{name}.toml"), env=env)

    hello_port = free_port()
    with _process(_server_cmd("bench.hello:litestar_app", hello_port, args.workers), env,
                  f"http://127.0.0.1:{hello_port}/healthz", tmp / f"{name}-hello.log"):  # fmt: skip
        _wrk(f"http://127.0.0.1:{hello_port}/healthz", 2, args.connections)
        hello = _wrk(f"http://127.0.0.1:{hello_port}/healthz", args.duration, args.connections)

    serve = [
        sys.executable,
        "-m",
        "vault.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
        "--no-migrate",
    ]
    with _process(serve, env, f"{base}/readyz", tmp / f"{name}-vault.log"):
        _wrk(f"{base}/healthz", 2, args.connections)
        healthz = _wrk(f"{base}/healthz", args.duration, args.connections)
        token = _setup(base, agency)
        proofs = tmp / f"{name}-proofs.txt"
        started = time.monotonic()
        count = int(args.max_rps * (args.duration + 1))
        proofs.write_text("\n".join(agency.dpop("GET", f"{base}/api/v1/data", token) for _ in range(count)) + "\n")
        signing_s = time.monotonic() - started
        proof_us = _proof_check_us(proofs, f"{base}/api/v1/data", token)
        script = tmp / "reads.lua"
        script.write_text(LUA)
        reads = _wrk(f"{base}/api/v1/data", args.duration, args.connections,
                     {"BENCH_PROOFS": str(proofs), "BENCH_TOKEN": token}, script)  # fmt: skip
        if reads["requests"] > count:
            raise SystemExit(f"{name}: {reads['requests']:.0f} requests but only {count} proofs; raise --max-rps")
        entries = _checkpoint_size(base, int(reads["requests"]))
    return {
        "backend": name,
        "workers": args.workers,
        "connections": args.connections,
        "hello": hello,
        "healthz": healthz,
        "reads": reads,
        "ratio": reads["rps"] / hello["rps"],
        "ratio_healthz": reads["rps"] / healthz["rps"],
        "proof_signing_s": signing_s,
        "proof_check_us": proof_us,
        # Even if the read cost nothing but its proof check, one worker could not exceed this ratio.
        "ceiling_ratio": 1 / (1 + proof_us * hello["rps"] / 1e6),
        "log_size_after": entries,
    }


def _proof_check_us(proofs: Path, url: str, token: str, count: int = 500) -> float:
    """Microseconds one DPoP proof check takes in this process (the vault's own check, no I/O)."""
    from vault.consent.proofs import verify_dpop_proof

    sample = proofs.read_text().splitlines()[:count]
    now = int(time.time())
    started = time.perf_counter()
    for proof in sample:
        verify_dpop_proof(proof, "GET", url, now, access_token=token)
    return (time.perf_counter() - started) / len(sample) * 1e6


def _checkpoint_size(base: str, at_least: int) -> int:
    """The log's size once the integrator has caught up with ``at_least`` entries (or after 15 s)."""
    size, deadline = -1, time.monotonic() + 15
    while time.monotonic() < deadline:
        text = httpx.get(f"{base}/log/checkpoint").text
        if text.count("\n") > 2:
            size = int(text.split("\n")[1])
            if size >= at_least:
                break
        time.sleep(0.2)
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-rps", type=int, default=2500, help="proofs to pre-sign per second of run")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("needs wrk: apt-get install wrk")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-read-") as name:
        tmp = Path(name)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                results.append(run_backend("sqlite", None, args, tmp))
            elif backend == "postgresql":
                bindir = find_bindir()
                if bindir is None:
                    print("postgresql: skipped (initdb/pg_ctl not installed)")
                    continue
                with postgres_server(bindir, durable=True) as server:
                    results.append(run_backend("postgresql", server.url(server.create_database()), args, tmp))
    print("| database | hello-world req/s | vault /healthz req/s | reads req/s | reads ÷ hello (goal ≥ 0.2) "
          "| reads ÷ /healthz | read p50 ms | read p99 ms (goal ≤ 50) | errors | proof check µs "
          "| ceiling ÷ hello |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['backend']} | {r['hello']['rps']:,.0f} | {r['healthz']['rps']:,.0f} | {r['reads']['rps']:,.0f} | "
              f"{r['ratio']:.3f} | {r['ratio_healthz']:.2f} | {r['reads']['p50_ms']:.1f} | "
              f"{r['reads']['p99_ms']:.1f} | {r['reads']['errors']:.0f} | {r['proof_check_us']:.0f} | "
              f"{r['ceiling_ratio']:.2f} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
