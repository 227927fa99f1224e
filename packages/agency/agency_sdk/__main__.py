"""``python -m agency_sdk keygen``: a new agency key (PEM, mode 0600) and the JWK Set to register.

Then register the agency with the vault operator:
``vault agency add --name NAME --redirect-uri URL --jwks agency-jwks.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from agency_sdk.keys import generate_key, public_jwks


def keygen(key_path: Path, jwks_path: Path) -> str:
    """Write a new private key and its public JWK Set; refuses to overwrite; returns the key id."""
    key = generate_key()
    pem = key.as_pem(private=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    jwks = public_jwks(key)
    jwks_path.write_text(json.dumps(jwks, indent=2) + "\n")
    return str(jwks["keys"][0]["kid"])


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m agency_sdk", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("keygen", help="a new ES256 key and the JWK Set to register with the vault")
    gen.add_argument("--key", type=Path, default=Path("agency-key.pem"), help="private key file (created 0600)")
    gen.add_argument("--jwks", type=Path, default=Path("agency-jwks.json"), help="public JWK Set to register")
    args = parser.parse_args(argv)
    try:
        kid = keygen(args.key, args.jwks)
    except FileExistsError:
        print(f"{args.key} exists already; not overwriting a key", file=sys.stderr)
        return 1
    print(f"private key: {args.key} (keep it secret)\nJWK Set:     {args.jwks} (kid {kid})")
    print(f"register:    vault agency add --name NAME --redirect-uri URL --jwks {args.jwks}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
