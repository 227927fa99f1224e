"""An agency's journey run by the python of a venv that holds only the two wheels (see test_wheels.py).

``python wheel_journey.py VAULT_URL AGENCY_FILE SERVICE``: pushes an authorization request, prints
``AUTHORIZE <url>``, reads ``CALLBACK <url>`` from stdin (the test approves as the citizen), then takes
the tokens, reads the data, waits for its receipt's inclusion proof, verifies it against the log key
and lets a ``LogMonitor`` check the log twice. Uses nothing but the standard library and agency_sdk.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from agency_sdk import AgencyClient, LogMonitor, verify_receipt


def main(vault: str, agency_file: str, service: str) -> None:
    agency = json.loads(Path(agency_file).read_text())
    with AgencyClient(vault, agency["client_id"], agency["private_jwk"], redirect_uri=agency["redirect_uri"]) as client:
        start = client.start_authorization(service)
        print("AUTHORIZE", start.url, flush=True)
        callback = sys.stdin.readline().removeprefix("CALLBACK ").strip()
        tokens = client.finish_authorization(start.flow, callback)
        print("token for grant", tokens.grant_id, flush=True)
        data = client.read_data(tokens)
        assert data.attributes["given_name"].value, data.attributes
        print("read", sorted(data.attributes), flush=True)
        receipt = client.fetch_proof(data.receipt, wait=30)
        vkey = client.log_key()
        verified = verify_receipt(receipt, vkey)
        assert verified.leaf_index is not None
        assert verified.tree_size is not None
        print(f"receipt verified: leaf {verified.leaf_index} in a tree of {verified.tree_size}", flush=True)
        monitor = LogMonitor(vkey)
        first = client.check_log(monitor)
        client.read_data(tokens)  # one more entry
        client.fetch_proof(client.read_data(tokens).receipt, wait=30)
        second = client.check_log(monitor)
        assert monitor.state is not None
        assert second.size >= first.size > 0
        print(f"log monitor: checkpoint {first.size} then {second.size}, consistent", flush=True)
        print("OK", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
