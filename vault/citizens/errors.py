"""Domain errors of the citizens package; ``vault.api`` maps them to HTTP statuses."""

from __future__ import annotations


class UnknownCitizen(Exception):
    """No such citizen, or the account was erased (answers like a missing record: 404)."""


class UnknownRecord(Exception):
    """No such attribute or document for this citizen (404, also for another citizen's ids)."""


class DocumentRejected(Exception):
    """A document upload was refused: too large (413) or not an accepted content type (415)."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.too_large = too_large


class LoginTaken(Exception):
    """The login name is already in use (409)."""


class InvalidCredentials(Exception):
    """Wrong login name or password; deliberately the same error for both."""
