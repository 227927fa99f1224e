"""``/schema/openapi.json`` says what the app answers: its own error bodies, the forms it reads, real statuses.

The fuzz tests (tests/fuzz) hold every answer to this document; these checks are the cheap part of
that, run with the unit tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from vault.app import create_app
from vault.config import load_settings

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp: Path = tmp_path_factory.mktemp("openapi")
    settings = load_settings({}, data_dir=str(tmp / "var"), database_url=f"sqlite+aiosqlite:///{tmp / 'v.db'}")
    return create_app(settings).openapi_schema.to_schema()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in {"get", "put", "post", "delete", "patch"}
    ]


def test_no_operation_documents_litestars_default_error_body(document: dict[str, Any]) -> None:
    wrong = [
        f"{method.upper()} {path} {status}"
        for path, method, op in _operations(document)
        for status, response in op["responses"].items()
        for media in (response.get("content") or {}).values()
        if "detail" in media.get("schema", {}).get("properties", {})
    ]
    assert wrong == []


def test_every_signed_in_operation_documents_401(document: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for path, method, op in _operations(document)
        if path.startswith("/api/v1/me") and "401" not in op["responses"]
    ]
    assert missing == []


@pytest.mark.parametrize("path", ["/oauth/par", "/oauth/token", "/oauth/revoke", "/oauth/introspect"])
def test_oauth_endpoints_document_their_form_and_errors(document: dict[str, Any], path: str) -> None:
    op = document["paths"][path]["post"]
    form = op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert {"client_assertion", "client_assertion_type"} <= set(form["required"])
    assert op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/OAuthErrorOut")


def test_the_token_endpoint_answers_200_as_rfc_6749_says(document: dict[str, Any]) -> None:
    assert set(document["paths"]["/oauth/token"]["post"]["responses"]) >= {"200", "400", "401"}
    assert "201" not in document["paths"]["/oauth/token"]["post"]["responses"]
