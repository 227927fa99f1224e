"""Which requests count as started by another site (vault.api.cross_site): a table of header combinations."""

from __future__ import annotations

import pytest

from vault.api.cross_site import API_SITES, origin_of, started_elsewhere

OWN = frozenset({"https://vault.example", "http://testserver"})


@pytest.mark.parametrize(
    ("headers", "elsewhere"),
    [
        ({"sec-fetch-site": "same-origin"}, False),
        ({"sec-fetch-site": "none"}, False),  # typed, bookmarked
        ({"sec-fetch-site": "cross-site"}, True),
        ({"sec-fetch-site": "same-site"}, True),  # a sibling subdomain is another origin
        ({"sec-fetch-site": "Cross-Site "}, True),
        ({"sec-fetch-site": "something-new"}, True),
        ({"sec-fetch-site": "same-origin", "origin": "https://evil.example"}, False),  # fetch metadata decides
        ({"sec-fetch-site": "cross-site", "origin": "https://vault.example"}, True),
        ({}, False),  # no browser a foreign page steers
        ({"origin": "https://vault.example"}, False),
        ({"origin": "HTTPS://VAULT.EXAMPLE/"}, False),
        ({"origin": "https://evil.example"}, True),
        ({"origin": "https://vault.example.evil.example"}, True),
        ({"origin": "https://vault.example:8443"}, True),
        ({"origin": "null"}, True),  # opaque origin (sandboxed frame, data: URL)
        ({"referer": "https://vault.example/settings"}, False),
        ({"referer": "https://evil.example/page?x=https://vault.example"}, True),
        ({"referer": "/relative"}, True),
        ({"origin": "https://vault.example", "referer": "https://evil.example/"}, False),  # Origin wins
        ({"origin": "", "referer": "https://evil.example/"}, True),
    ],
)
def test_started_elsewhere(headers: dict[str, str], elsewhere: bool) -> None:
    assert started_elsewhere(headers, OWN) is elsewhere


@pytest.mark.parametrize(
    ("site", "elsewhere"), [("same-origin", False), ("none", True), ("same-site", True), ("cross-site", True)]
)
def test_the_api_trusts_only_its_own_pages(site: str, elsewhere: bool) -> None:
    assert started_elsewhere({"sec-fetch-site": site}, OWN, API_SITES) is elsewhere


def test_origin_of() -> None:
    assert origin_of("https://Vault.Example:8443/path?q=1") == "https://vault.example:8443"
    assert origin_of("null") is None
    assert origin_of("http://[::1") is None  # malformed IPv6 netloc: urlsplit raises
    assert origin_of("") is None
