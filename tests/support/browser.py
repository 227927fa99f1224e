"""A minimal browser over httpx for tests and benchmarks against a real ``vault serve`` on http://127.0.0.1.

It keeps the ``Secure`` (``__Host-``) cookies on plain-http loopback as browsers do; httpx's own
cookie jar would not send them back.
"""

from __future__ import annotations

import re
from typing import Any

import httpx


class LoopbackBrowser:
    """Cookies kept by hand, forms filled with their CSRF token."""

    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send the kept cookies, keep the ones the answer sets."""
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers = {**kwargs.pop("headers", {}), "Cookie": cookie}
        response = self.client.request(method, path, headers=headers, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            name, _, value = header.split(";", 1)[0].partition("=")
            self.cookies[name] = value
        return response

    def form_token(self, path: str) -> str:
        """The CSRF token of the form on ``path``."""
        match = re.search(r'name="csrf_token" value="([^"]+)"', self.request("GET", path).text)
        assert match, path
        return match.group(1)

    def register(self, username: str, password: str) -> None:
        """Create an account through the form; the browser is signed in afterwards."""
        form = {"username": username, "password": password, "password_confirm": password}
        answer = self.request("POST", "/register", data={**form, "csrf_token": self.form_token("/register")})
        assert answer.status_code == 303, answer.text

    def api_csrf(self) -> str:
        """The session's token for ``X-CSRF-Token`` and signed-in forms."""
        return str(self.request("GET", "/api/v1/me/csrf").json()["csrf_token"])
