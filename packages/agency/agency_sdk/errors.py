"""What can go wrong, as an agency needs to tell it apart.

::

    SdkError                  every error the SDK raises; .error (OAuth code or None), .description, .status
    ├── ConfigurationError    the client is set up wrong: a bad key, an issuer whose metadata disagrees
    ├── VaultUnavailable      network failure or a 5xx answer: try again later
    ├── RequestRejected       the vault refused a request of the agency (invalid_client, invalid_grant, 404 …)
    ├── AuthorizationFailed   the callback does not complete the flow: wrong state or iss, or the citizen
    │                         declined (.declined is True for access_denied)
    ├── AccessEnded           a read was refused because the grant or token is revoked, expired or used up:
    │                         ask the citizen again
    └── ReceiptInvalid        a receipt, proof or checkpoint does not verify against the pinned log key
"""

from __future__ import annotations


class SdkError(Exception):
    """Base of every error the SDK raises."""

    def __init__(self, description: str, *, error: str | None = None, status: int | None = None) -> None:
        super().__init__(f"{error}: {description}" if error else description)
        self.description = description
        self.error = error
        self.status = status


class ConfigurationError(SdkError):
    """The client is set up wrong (key, issuer, metadata)."""


class VaultUnavailable(SdkError):
    """The vault could not be reached or answered with a server error."""


class RequestRejected(SdkError):
    """The vault refused a request of the agency."""


class AuthorizationFailed(SdkError):
    """The authorization callback does not complete the flow."""

    @property
    def declined(self) -> bool:
        """Whether the citizen said no (``access_denied``)."""
        return self.error == "access_denied"


class AccessEnded(SdkError):
    """The grant or token behind a read is revoked, expired or used up."""


class ReceiptInvalid(SdkError):
    """A receipt, inclusion proof or checkpoint does not verify, or lacks the required witness quorum."""
