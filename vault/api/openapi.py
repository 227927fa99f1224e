"""What ``/schema/openapi.json`` says beyond the handlers' signatures: error bodies, forms, binary answers.

Litestar documents the 400 it raises itself with its default body (``status_code``, ``detail``); the
vault's exception handlers (:mod:`vault.api.errors`) answer with their own, so each handler lists its
error statuses through :func:`errors` (or :func:`oauth_errors` for RFC 6749 errors). Endpoints that
read a form by hand (the OAuth ones) or answer with several media types describe that through
:func:`operation`, Litestar's ``operation_class`` hook; so do those that take a DPoP proof
(``dpop``: a required ``DPoP`` header, which the replay test in ``tests/integration/consent`` walks).
The fuzz tests (``tests/fuzz``) hold every answer the app gives to this document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.enums import ParamType
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    RequestBody,
    Schema,
)

HTML = "text/html; charset=utf-8"
FORM = "application/x-www-form-urlencoded"
DPOP_HEADER = Parameter(
    name="DPoP",
    param_in=ParamType.HEADER,
    schema=Schema(type=OpenAPIType.STRING),
    required=True,
    description="A DPoP proof (RFC 9449) for this request; each proof is accepted once (its jti is recorded)",
)

_WHY = {
    400: "The request is malformed (a parameter or the body does not validate)",
    401: "Not signed in, or the session has ended",
    403: (
        "Missing or wrong X-CSRF-Token; `reauthentication_required`: sign in again at `level`;"
        " `cross_site_request`: another site started the request; or an auditor's account (no citizen data)"
    ),
    404: "No such record (another citizen's ids answer the same)",
    409: "The request conflicts with the record's state",
    413: "The body is too large (forms and JSON: 64 KiB; documents: max_document_bytes)",
    415: "The document's type is not accepted",
    422: "A value does not validate; `field` names it",
    503: "The vault is not ready (starting, or its database is unreachable)",
}
_OAUTH_WHY = {
    400: "OAuth error (RFC 6749 §5.2): invalid_request, invalid_grant, invalid_dpop_proof, …",
    401: "OAuth error: invalid_client, invalid_token or use_dpop_nonce (`WWW-Authenticate: DPoP`)",
    403: "OAuth error: insufficient_scope",
}


class ErrorOut(msgspec.Struct):
    """Every JSON error the vault answers with, except the OAuth ones."""

    error: str
    status: int
    field: str | None = None
    extra: list[dict[str, Any]] | dict[str, Any] | None = None
    max_age: int | None = None
    level: str | None = None
    error_description: str | None = None


class OAuthErrorOut(msgspec.Struct):
    """An RFC 6749 §5.2 error (token, PAR, revocation, introspection, agency data API)."""

    error: str
    error_description: str


def errors(*codes: int) -> dict[int, ResponseSpec]:
    """``responses=`` for the vault's own errors with these status codes."""
    return {code: ResponseSpec(ErrorOut, description=_WHY[code], generate_examples=False) for code in codes}


def oauth_errors(*codes: int) -> dict[int, ResponseSpec]:
    """``responses=`` for RFC 6749 errors with these status codes."""
    return {code: ResponseSpec(OAuthErrorOut, description=_OAUTH_WHY[code], generate_examples=False) for code in codes}


def page(code: int, description: str) -> dict[int, ResponseSpec]:
    """``responses=`` for an HTML page answered with ``code``."""
    return {code: ResponseSpec(str, description=description, media_type=HTML, generate_examples=False)}


def page_or_error(code: int, description: str) -> dict[str, OpenAPIResponse]:
    """An HTML page answered with ``code``, or the JSON error when Litestar refuses the form before the handler.

    For :func:`operation`'s ``responses``; the handler must also list :func:`errors` (which registers
    the ``ErrorOut`` component this refers to).
    """
    content = {
        HTML: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)),
        "application/json": OpenAPIMediaType(schema=Reference(ref="#/components/schemas/ErrorOut")),
    }
    return {str(code): OpenAPIResponse(description=description, content=content)}


def redirect(description: str) -> dict[int, ResponseSpec]:
    """``responses=`` for a 303 to another page (``Location``), without a body."""
    return {303: ResponseSpec(None, description=description)}


def form(fields: dict[str, str], required: tuple[str, ...]) -> RequestBody:
    """A urlencoded form body of string fields, each with its description."""
    properties: dict[str, Schema | Reference] = {
        name: Schema(type=OpenAPIType.STRING, description=d) for name, d in fields.items()
    }
    schema = Schema(type=OpenAPIType.OBJECT, properties=properties, required=list(required))
    return RequestBody(content={FORM: OpenAPIMediaType(schema=schema)}, required=True)


def binary(status: int, description: str, media_types: tuple[str, ...]) -> dict[str, OpenAPIResponse]:
    """A response of raw bytes in any of ``media_types`` (a download)."""
    content = {t: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, content_media_type=t)) for t in media_types}
    return {str(status): OpenAPIResponse(description=description, content=content)}


def operation(
    *,
    request_body: RequestBody | None = None,
    responses: dict[str, OpenAPIResponse] | None = None,
    dpop: bool = False,
) -> type[Operation]:
    """An ``operation_class`` that adds a body the handler reads by hand and replaces responses by status.

    ``dpop`` adds the ``DPoP`` header the handler reads by hand (not through its signature, so that a
    missing proof is answered as an OAuth error, not as Litestar's 400).
    """

    @dataclass
    class Documented(Operation):
        def __post_init__(self) -> None:
            if request_body is not None:
                self.request_body = request_body
            if responses:
                self.responses = {**(self.responses or {}), **responses}
            if dpop:
                self.parameters = [*(self.parameters or []), DPOP_HEADER]

    return Documented
