"""Where sign-in may continue to: a path of this site, never another host, however it is spelled."""

from __future__ import annotations

import pytest

from vault.api.pages import safe_next


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "data",
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "/\t/evil.example",  # browsers drop the tab: //evil.example
        "/\n/evil.example",
        "/\r/evil.example",
        "/ /evil.example",
        "/\x00/evil.example",
        "/\x7f/evil.example",
        "/" + "a" * 2000,
    ],
)
def test_anything_but_a_plain_path_of_this_site_becomes_the_overview(target: str | None) -> None:
    assert safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/", "/settings", "/oauth/authorize?client_id=abc&request_uri=urn%3Aietf%3Ax"])
def test_a_path_of_this_site_is_kept(target: str) -> None:
    assert safe_next(target) == target
