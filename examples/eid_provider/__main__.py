"""Run the test eID provider: ``python -m examples.eid_provider --issuer http://localhost:8002 --clients FILE``.

The clients file is JSON: ``{"clients": [{"client_id", "redirect_uris", "jwks" | "client_secret"}],
"saml_service_providers": [...]}``; ``python -m examples.eid_provider.make_client`` writes one with a
fresh key pair for the vault. ``--wait`` waits that many seconds for the file to appear (``make demo``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from examples.eid_provider.app import create_app
from examples.eid_provider.clients import load_clients


def _wait_for(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m examples.eid_provider", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--issuer", default="http://localhost:8002", help="the provider's issuer URL")
    parser.add_argument("--clients", type=Path, required=True, help="JSON file with clients and SAML SPs")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the clients file to appear")
    parser.add_argument("--announce", default="", help="a line to print once the provider is up (make demo)")
    args = parser.parse_args(argv)
    _wait_for(args.clients, args.wait)
    try:
        clients = load_clients(args.clients)
    except (OSError, ValueError) as exc:
        parser.error(f"--clients {args.clients}: {exc}")
    app = create_app(args.issuer, clients.clients, saml_service_providers=clients.saml_service_providers)
    import uvicorn  # the example's server (a dev dependency); the vault itself runs on granian

    print(f"Test-eID-Anbieter (example eID provider): {args.issuer.rstrip('/')}", file=sys.stderr, flush=True)
    if args.announce:
        print(args.announce, file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
