"""Domain errors become the HTTP statuses DESIGN.md promises, with clear bodies."""

from __future__ import annotations

import pytest
from litestar import Litestar, get
from litestar.params import FromPath  # noqa: TC002  Litestar reads annotations at runtime
from litestar.testing import TestClient

from vault.api.errors import exception_handlers
from vault.citizens.attributes import AttributeInvalid
from vault.citizens.errors import DocumentRejected, InvalidCredentials, LoginTaken, UnknownCitizen, UnknownRecord
from vault.transparency.log import BadProofRequest, LogUnavailable

CASES = {
    "invalid": (AttributeInvalid("address.postal_code", "must be 5 digits"), 422),
    "citizen": (UnknownCitizen("x"), 404),
    "record": (UnknownRecord("y"), 404),
    "large": (DocumentRejected("too big", too_large=True), 413),
    "type": (DocumentRejected("not a pdf"), 415),
    "taken": (LoginTaken("erika"), 409),
    "credentials": (InvalidCredentials(), 401),
    "proof": (BadProofRequest("index out of range"), 400),
    "log": (LogUnavailable("down"), 503),
    "bug": (RuntimeError("secret detail"), 500),
    "nested": (RecursionError("maximum recursion depth exceeded while deserializing an object"), 400),
}


@get("/raise/{kind:str}")
async def raiser(kind: FromPath[str]) -> None:
    raise CASES[kind][0]


@pytest.mark.parametrize("kind", list(CASES))
def test_statuses(kind: str) -> None:
    with TestClient(Litestar([raiser], exception_handlers=exception_handlers())) as client:
        r = client.get(f"/raise/{kind}")
    assert r.status_code == CASES[kind][1]
    body = r.json()
    assert body["status"] == CASES[kind][1]
    assert body["error"]
    if kind == "invalid":
        assert body["field"] == "address.postal_code"
    if kind == "bug":
        assert "secret detail" not in r.text
    if kind in ("citizen", "record"):
        assert body == {"error": "not found", "status": 404}
