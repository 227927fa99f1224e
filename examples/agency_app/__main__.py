"""Run the example agency app: ``python -m examples.agency_app --agency var/demo-agency.json``.

``--agency`` names a JSON file with ``client_id``, ``redirect_uri`` and ``private_jwk`` (what
``vault serve --demo`` writes to ``<data dir>/demo-agency.json``); or give ``--client-id``, ``--key``
(PEM or JWK file, e.g. from ``python -m agency_sdk keygen``) and ``--redirect-uri``. ``--service ID``
or ``--service ID=Title`` (repeatable; default ``adressabgleich``) names the services the form offers,
one button each. The app waits until the vault is ready and pins the log key it first sees (or ``--log-key``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import httpx

from examples.agency_app.app import Config, create_app, parse_service


def _wait_ready(vault_url: str, agency_file: Path | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{vault_url}/readyz", timeout=2).status_code == 200 and (
                agency_file is None or agency_file.exists()
            ):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the vault at {vault_url} did not become ready within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m examples.agency_app", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--vault", default="http://localhost:8000", help="the vault's issuer URL")
    parser.add_argument("--agency", type=Path, help="JSON file with client_id, redirect_uri, private_jwk")
    parser.add_argument("--client-id")
    parser.add_argument("--key", type=Path, help="the agency's private key (PEM or JWK)")
    parser.add_argument("--redirect-uri")
    parser.add_argument("--service", action="append", type=parse_service,
                        help="ID or ID=Title of a service to offer (repeatable; default: adressabgleich)")  # fmt: skip
    parser.add_argument("--log-key", help="the log's verifier key to pin (default: the first one seen)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--announce", default="", help="a line to print once the app is up (make demo)")
    args = parser.parse_args(argv)
    vault_url = args.vault.rstrip("/")
    _wait_ready(vault_url, args.agency)
    if args.agency:
        agency = json.loads(args.agency.read_text())
        client_id, key, redirect_uri = agency["client_id"], agency["private_jwk"], agency["redirect_uri"]
    elif args.client_id and args.key and args.redirect_uri:
        client_id, key, redirect_uri = args.client_id, args.key.read_bytes(), args.redirect_uri
    else:
        parser.error("give --agency FILE, or --client-id, --key and --redirect-uri")
    services = tuple(args.service or [parse_service("adressabgleich")])
    config = Config(vault_url, client_id, key, redirect_uri, services, args.log_key)
    app = create_app(config)
    import uvicorn  # the example's server (a dev dependency); the vault itself runs on granian

    host = "localhost" if args.host == "127.0.0.1" else args.host
    print(f"Bürgeramt (example agency app): http://{host}:{args.port}", file=sys.stderr, flush=True)
    if args.announce:
        print(args.announce, file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
