"""Register a relying party with the test provider: ``python -m examples.eid_provider.make_client``.

Writes a fresh P-256 key pair's private half as PEM (``--key-out``, for ``vault idp add --private-key``)
and adds the client with the public JWKS to the clients file (``--clients``, created if missing);
with ``--secret-out`` the client gets a random secret instead (for ``--client-secret-file``).
Prints the client id.
"""

from __future__ import annotations

import argparse
import json
import secrets
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey


def add_client(
    doc: dict[str, Any], client_id: str, redirect_uri: str, *, secret: str | None, jwk: dict[str, Any] | None
) -> None:
    """Add or replace ``client_id`` in the clients file's parsed content."""
    entry: dict[str, Any] = {"client_id": client_id, "redirect_uris": [redirect_uri]}
    if secret is not None:
        entry["client_secret"] = secret
    else:
        entry["jwks"] = {"keys": [jwk]}
    doc["clients"] = [c for c in doc.get("clients", []) if c.get("client_id") != client_id] + [entry]
    doc.setdefault("saml_service_providers", [])


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m examples.eid_provider.make_client", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--clients", type=Path, required=True, help="the clients file to create or extend")
    parser.add_argument("--client-id", default="buergertresor")
    parser.add_argument("--redirect-uri", default="http://localhost:8000/login/idp/callback")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--key-out", type=Path, help="where to write the client's private key (PEM)")
    group.add_argument("--secret-out", type=Path, help="where to write the client's secret")
    args = parser.parse_args(argv)
    doc = json.loads(args.clients.read_text()) if args.clients.exists() else {"clients": []}
    if args.secret_out:
        secret = secrets.token_urlsafe(32)
        args.secret_out.write_text(secret)
        args.secret_out.chmod(0o600)
        add_client(doc, args.client_id, args.redirect_uri, secret=secret, jwk=None)
    else:
        key = ECKey.generate_key("P-256", private=True)
        args.key_out.write_bytes(key.as_pem(private=True))
        args.key_out.chmod(0o600)
        jwk = {**key.as_dict(private=False), "kid": key.thumbprint(), "alg": "ES256", "use": "sig"}
        add_client(doc, args.client_id, args.redirect_uri, secret=None, jwk=jwk)
    args.clients.parent.mkdir(parents=True, exist_ok=True)
    args.clients.write_text(json.dumps(doc, indent=2))
    print(args.client_id)


if __name__ == "__main__":
    main()
