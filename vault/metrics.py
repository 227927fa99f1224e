"""Prometheus metrics for operators only: a loopback listener of their own, or a bearer token.

``/metrics`` shows the rate of consents, reads, failed sign-ins and erasures, so it is never served to
anyone who asks. Two ways to reach it (DESIGN.md §10):

* ``vault serve --metrics-port N`` (``VAULT_METRICS_PORT``): the serving process — not a worker —
  answers ``GET /metrics`` on ``VAULT_METRICS_HOST`` (default ``127.0.0.1``) and nothing else. The
  workers write their counters to ``<data dir>/metrics`` (prometheus_client's multiprocess mode), so
  the listener shows the sum over every worker of this host.
* ``VAULT_METRICS_TOKEN``: the public listener serves ``/metrics`` only to
  ``Authorization: Bearer <token>``; without the setting it answers 404 there.
"""

from __future__ import annotations

import hmac
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

PATH = "/metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
BEARER_REALM = 'Bearer realm="metrics"'


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries exactly ``token`` (compared in constant time)."""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def exposition() -> tuple[bytes, str]:
    """The Prometheus text of this process, or of every worker in multiprocess mode; and its media type."""
    registry: CollectorRegistry = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _MetricsOnly(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server's naming
        if self.path.split("?", 1)[0] != PATH:
            self._answer(404, b"not found\n", "text/plain; charset=utf-8")
            return
        body, content_type = exposition()
        self._answer(200, body, content_type)

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: scrapes are not news
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def start_listener(host: str, port: int) -> ThreadingHTTPServer:
    """Serve ``GET /metrics`` (only) on ``host:port`` in a daemon thread; the caller may ``shutdown()`` it."""
    server = (_Server6 if ":" in host else _Server)((host, port), _MetricsOnly)
    threading.Thread(target=server.serve_forever, name="metrics-listener", daemon=True).start()
    return server
