"""The SDK's public surface is pinned, and neither it nor tlog imports the vault's server side."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import agency_sdk
import tlog

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


def _imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (under ``TYPE_CHECKING`` and inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", [agency_sdk, tlog], ids=["agency_sdk", "tlog"])
def test_no_module_imports_the_vault(package: object) -> None:
    root = Path(package.__file__).parent  # type: ignore[attr-defined]
    modules = sorted(root.rglob("*.py"))
    assert len(modules) >= 5
    for path in modules:
        bad = {m for m in _imported(path) if m.split(".")[0] == "vault"}
        assert not bad, f"{path.relative_to(root.parent)} imports {sorted(bad)}"


def test_tlog_imports_only_its_declared_dependencies() -> None:
    allowed = {"tlog", "cryptography", "msgspec", "__future__", *sys.stdlib_module_names}
    for path in sorted(Path(tlog.__file__).parent.rglob("*.py")):
        assert {m.split(".")[0] for m in _imported(path)} <= allowed, path.name


def test_importing_the_sdk_loads_no_server_code() -> None:
    code = (
        "import sys, agency_sdk, agency_sdk.__main__\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'vault', 'litestar', 'sqlalchemy', 'asyncpg', 'aiosqlite', 'granian', 'jinja2', 'structlog'})\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
