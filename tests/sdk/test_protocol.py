"""The protocol's pure checks, without a vault: what a callback must carry before any request is sent."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from agency_sdk import AuthorizationFailed, Flow, generate_key
from agency_sdk.protocol import Protocol
from tests.sdk.conftest import CALLBACK, ISSUER


def _finish(flow: Flow, callback: str | dict[str, str]) -> None:
    steps = Protocol(ISSUER, "amt", generate_key(), redirect_uri=CALLBACK).finish(flow, callback)
    next(steps)  # the callback is checked before the first request (the token request) is yielded


@pytest.mark.parametrize("state", ["zurück", "\u0661\u0662\u0663", "\udc80"])
def test_a_non_ascii_state_in_the_callback_is_refused_as_a_foreign_flow(state: str) -> None:
    flow = Flow("our-state-abc", "verifier", CALLBACK, "ummeldung", 0)
    query = urlencode({"code": "c", "state": state, "iss": ISSUER}, encoding="utf-8", errors="surrogatepass")
    for callback in (f"{CALLBACK}?{query}", {"code": "c", "state": state, "iss": ISSUER}):
        with pytest.raises(AuthorizationFailed, match="state") as refused:  # was a TypeError from compare_digest
            _finish(flow, callback)
        assert refused.value.error == "invalid_request"


def test_a_non_ascii_state_of_our_own_flow_still_matches() -> None:
    flow = Flow("Rückkehr-ü", "verifier", CALLBACK, "ummeldung", 0)
    steps = Protocol(ISSUER, "amt", generate_key(), redirect_uri=CALLBACK).finish(
        flow, f"{CALLBACK}?{urlencode({'code': 'c', 'state': flow.state, 'iss': ISSUER})}"
    )
    request = next(steps)  # past the checks: discovery is the first request
    assert request.url.path.endswith("/.well-known/oauth-authorization-server")
