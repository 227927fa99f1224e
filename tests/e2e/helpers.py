"""Helpers for the browser tests: axe-core checks, a virtual WebAuthn authenticator, screenshots.

axe-core comes from npm (``tests/e2e/package-lock.json``, installed by ``make``). The pages send a
strict CSP (``script-src 'self'``, no inline script), so a ``<script>`` tag with axe's source would
be blocked; :func:`axe_violations` evaluates the source over the DevTools protocol instead, which
CSP does not govern. The browser context keeps CSP on (no ``bypass_csp``), so the tests see the
pages as a citizen does.

Screenshots (:func:`screenshot`) go to ``docs/screenshots/<name>.png`` only when the environment has
``VAULT_SCREENSHOTS=1``, e.g. ``VAULT_SCREENSHOTS=1 .venv/bin/pytest tests/e2e``; otherwise to the
directory the caller passes (a pytest ``tmp_path``), or nowhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, CDPSession, Page

E2E_DIR = Path(__file__).resolve().parent
REPO = E2E_DIR.parents[1]
AXE_JS = E2E_DIR / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / "docs" / "screenshots"
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")

_RUN_AXE = """async (tags) => {
  const results = await window.axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return results.violations;
}"""


@cache
def _axe_source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


def axe_violations(page: Page, tags: tuple[str, ...] = WCAG_TAGS) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now and return its violations of the WCAG 2.0/2.1 A and AA rules.

    Args:
        page: A loaded page.
        tags: The axe rule tags to check.

    Returns:
        axe's violation objects (``id``, ``impact``, ``help``, ``helpUrl``, ``nodes`` with ``target``,
        ``html`` and ``failureSummary``); empty when the page passes.
    """
    if not page.evaluate("typeof window.axe === 'object'"):
        # Evaluated over CDP (Runtime.evaluate), not as a <script>: the page's CSP allows no inline script.
        page.evaluate(_axe_source())
    violations: list[dict[str, Any]] = page.evaluate(_RUN_AXE, list(tags))
    return violations


def format_violations(violations: list[dict[str, Any]]) -> str:
    """One paragraph per violated rule: id, impact, help text and URL, then each failing node.

    Args:
        violations: What :func:`axe_violations` returned.

    Returns:
        A readable multi-line report.
    """
    lines: list[str] = []
    for rule in violations:
        lines.append(f"{rule['id']} ({rule.get('impact') or 'n/a'}): {rule['help']} <{rule.get('helpUrl', '')}>")
        for node in rule.get("nodes", []):
            target = " ".join(str(t) for t in node.get("target", []))
            lines.append(f"  - {target}: {node.get('html', '')}")
            summary = (node.get("failureSummary") or "").replace("\n", "\n      ")
            if summary:
                lines.append(f"      {summary}")
    return "\n".join(lines)


def assert_accessible(page: Page, tags: tuple[str, ...] = WCAG_TAGS) -> None:
    """Fail with a readable list of axe violations (rule, impact, help, failing nodes) if there are any.

    Args:
        page: A loaded page.
        tags: The axe rule tags to check.

    Raises:
        AssertionError: axe found at least one violation.
    """
    violations = axe_violations(page, tags)
    if violations:
        raise AssertionError(
            f"axe-core: {len(violations)} rule(s) violated on {page.url}:\n{format_violations(violations)}"
        )


@dataclass
class VirtualAuthenticator:
    """A virtual WebAuthn authenticator in one page, and the DevTools session that controls it."""

    cdp: CDPSession
    authenticator_id: str

    def credentials(self) -> list[dict[str, Any]]:
        """The credentials the authenticator holds (see :func:`credentials`)."""
        return credentials(self.cdp, self.authenticator_id)


def add_virtual_authenticator(context: BrowserContext, page: Page) -> VirtualAuthenticator:
    """Give ``page`` a platform authenticator (CTAP2, internal, resident keys, user verified, auto presence).

    Args:
        context: The page's browser context.
        page: The page whose WebAuthn calls the authenticator answers.

    Returns:
        The authenticator's id (``.authenticator_id``) with the CDP session (``.cdp``) that keeps it alive;
        detaching the session removes the authenticator.
    """
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return VirtualAuthenticator(cdp, str(added["authenticatorId"]))


def credentials(cdp: CDPSession, authenticator_id: str) -> list[dict[str, Any]]:
    """The credentials a virtual authenticator holds (``WebAuthn.getCredentials``).

    Args:
        cdp: The session the authenticator was added with.
        authenticator_id: Its id.

    Returns:
        One dict per credential: ``credentialId``, ``isResidentCredential``, ``rpId``, ``userHandle``,
        ``signCount`` and the base64 ``privateKey``.
    """
    answer = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    found: list[dict[str, Any]] = answer["credentials"]
    return found


def screenshot(page: Page, name: str, fallback_dir: Path | None = None) -> Path | None:
    """Save a full-page PNG: to ``docs/screenshots/<name>.png`` with ``VAULT_SCREENSHOTS=1``, else to ``fallback_dir``.

    Args:
        page: The page to capture.
        name: File name without ``.png`` (e.g. ``login-de``).
        fallback_dir: Where to save when ``VAULT_SCREENSHOTS`` is not ``1`` (e.g. pytest's ``tmp_path``);
            ``None`` saves nothing then.

    Returns:
        The file written, or ``None``.
    """
    folder = SCREENSHOTS if os.environ.get("VAULT_SCREENSHOTS") == "1" else fallback_dir
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path
