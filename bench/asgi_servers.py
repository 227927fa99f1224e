"""Compare uvicorn (uvloop + httptools) and granian on bare hello-world apps, side by side in one run.

Each server runs one worker on a free loopback port; `wrk` (Debian package `wrk`) drives it with one
thread and 64 connections. Results are printed as a Markdown table plus each server's throughput
as a ratio to uvicorn's on the same app, which is what docs/operations.md records.

    make bench-asgi            # or: .venv/bin/python -m bench.asgi_servers --duration 10
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import sys
import time

import httpx

SERVERS = {
    "uvicorn": lambda app, port: [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ],
    "granian": lambda app, port: [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
        app,
    ],
}
APPS = {"raw ASGI": "bench.hello:raw_app", "Litestar": "bench.hello:litestar_app"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not come up")


def run_wrk(url: str, duration: int, connections: int) -> tuple[float, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99 is not None, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return rps, float(p99.group(1)) * scale


def measure(server: str, app: str, duration: int, connections: int) -> tuple[float, float]:
    port = free_port()
    proc = subprocess.Popen(SERVERS[server](app, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        wait_up(url)
        run_wrk(url, 2, connections)  # warm-up
        return run_wrk(url, duration, connections)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("needs wrk: apt-get install wrk")
    print("| app | server | requests/s | p99 ms | ratio to uvicorn |")
    print("|---|---|---:|---:|---:|")
    for app_name, app in APPS.items():
        results = {server: measure(server, app, args.duration, args.connections) for server in SERVERS}
        base = results["uvicorn"][0]
        for server, (rps, p99) in results.items():
            print(f"| {app_name} | {server} | {rps:,.0f} | {p99:.2f} | {rps / base:.2f} |")


if __name__ == "__main__":
    main()
