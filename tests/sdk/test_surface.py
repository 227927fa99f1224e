"""The SDK's public surface is pinned, and importing it pulls in none of the vault's server side."""

from __future__ import annotations

import subprocess
import sys

import agency_sdk

PUBLIC = [
    "AccessEnded", "AgencyClient", "AsyncAgencyClient", "Attribute", "Authorization", "AuthorizationFailed",
    "ConfigurationError", "DataResult", "Document", "DocumentInfo", "Documents", "Flow", "GrantInfo", "LogMonitor",
    "Metadata", "MonitorState", "Receipt", "ReceiptInvalid", "RequestRejected", "SdkError", "Tokens",
    "VaultUnavailable", "VerifiedReceipt", "__version__", "generate_key", "load_private_key", "public_jwks",
    "verify_receipt",
]  # fmt: skip


def test_the_public_surface_is_what_the_docs_promise() -> None:
    assert sorted(agency_sdk.__all__) == sorted(PUBLIC)  # a change here is a change agencies must hear about
    for name in agency_sdk.__all__:
        assert getattr(agency_sdk, name) is not None


def test_every_error_is_an_sdk_error() -> None:
    errors = [agency_sdk.AccessEnded, agency_sdk.AuthorizationFailed, agency_sdk.ConfigurationError,
              agency_sdk.ReceiptInvalid, agency_sdk.RequestRejected, agency_sdk.VaultUnavailable]  # fmt: skip
    assert all(issubclass(e, agency_sdk.SdkError) for e in errors)


def test_importing_the_sdk_loads_no_server_code() -> None:
    code = (
        "import sys, agency_sdk\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'litestar', 'sqlalchemy', 'asyncpg', 'aiosqlite', 'granian', 'jinja2', 'structlog'} "
        "or m.startswith(('vault.api', 'vault.db', 'vault.consent', 'vault.citizens')))\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
