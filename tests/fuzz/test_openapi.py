"""Schemathesis over every operation of ``/schema/openapi.json``: no 5xx, every answer as the schema says.

Positive mode sends what the schema allows, negative mode what it forbids; both authenticated where
the operation needs it (see :mod:`tests.fuzz.harness`), and the operations that need it once more
without. ``VAULT_FUZZ_EXAMPLES`` sets the examples per operation and mode: 50 for CI, hundreds for
``make fuzz``. ``VAULT_FUZZ_SEED`` replays a run.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import schemathesis

from tests.fuzz.harness import openapi_document

if TYPE_CHECKING:
    from tests.fuzz.harness import FuzzedVault

EXAMPLES = int(os.environ.get("VAULT_FUZZ_EXAMPLES", "50"))
# Every path but those that need a session or token (an exclusion: schemathesis' `include()` selects every
# operation once the config has an `operations` entry).
NO_CREDENTIALS_NEEDED = r"^/(?!api/v1/me|api/v1/data|api/v1/documents|oauth/authorize)"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)


def _schema(mode: str, examples: int = EXAMPLES) -> Any:
    config: dict[str, Any] = {
        "generation": {"mode": mode, "max-examples": examples, "database": "none"},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "phases": {"stateful": {"enabled": False}},
        "suppress-health-check": ["too_slow", "filter_too_much"],
    }
    if seed := os.environ.get("VAULT_FUZZ_SEED"):
        config["seed"] = int(seed)
    return schemathesis.openapi.from_dict(openapi_document(), config=schemathesis.Config.from_dict(config))


positive = _schema("positive")
negative = _schema("negative")
# Without session or token: only the operations that need one, with a fraction of the examples.
anonymous = _schema("positive", max(EXAMPLES // 5, 3)).exclude(path_regex=NO_CREDENTIALS_NEEDED)


@positive.parametrize()  # type: ignore[untyped-decorator]
def test_valid_requests(case: schemathesis.Case[Any], fuzzed: FuzzedVault) -> None:
    fuzzed.call(case)


@negative.parametrize()  # type: ignore[untyped-decorator]
def test_invalid_requests(case: schemathesis.Case[Any], fuzzed: FuzzedVault) -> None:
    fuzzed.call(case)


@anonymous.parametrize()  # type: ignore[untyped-decorator]
def test_requests_without_credentials(case: schemathesis.Case[Any], fuzzed: FuzzedVault) -> None:
    fuzzed.call(case, signed_in=False)
