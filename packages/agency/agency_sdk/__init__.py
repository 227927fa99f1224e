"""Bürgertresor agency SDK: ask a citizen for data, read exactly what was granted, verify the receipts.

PAR, PKCE, ``private_key_jwt``, DPoP (with nonces) and clock skew are handled inside::

    from agency_sdk import AgencyClient

    client = AgencyClient("https://vault.example", client_id, private_key_pem, redirect_uri=CALLBACK)
    start = client.start_authorization("ummeldung")          # keep start.flow; send the citizen to start.url
    tokens = client.finish_authorization(start.flow, callback_url)
    data = client.read_data(tokens)                           # data.attributes, data.receipt

Errors (``agency_sdk.errors``)::

    SdkError                  every error the SDK raises; .error (OAuth code or None), .description, .status
    ├── ConfigurationError    the client is set up wrong: a bad key, an issuer whose metadata disagrees
    ├── VaultUnavailable      network failure or a 5xx answer: try again later
    ├── RequestRejected       the vault refused a request of the agency (invalid_client, invalid_grant, 404 …)
    ├── AuthorizationFailed   the callback does not complete the flow: wrong state or iss, or the citizen
    │                         declined (.declined is True for access_denied)
    ├── AccessEnded           a read was refused because the grant or token is revoked, expired or used up
    └── ReceiptInvalid        a receipt, proof or checkpoint does not verify against the pinned log key

``python -m agency_sdk keygen`` writes a new private key and the JWK Set to register. See docs/sdk.md.
"""

from agency_sdk.client import AgencyClient, AsyncAgencyClient
from agency_sdk.errors import (
    AccessEnded,
    AuthorizationFailed,
    ConfigurationError,
    ReceiptInvalid,
    RequestRejected,
    SdkError,
    VaultUnavailable,
)
from agency_sdk.keys import generate_key, load_private_key, public_jwks
from agency_sdk.log import LogMonitor, MonitorState, VerifiedReceipt, verify_receipt
from agency_sdk.models import (
    Attribute,
    Authorization,
    DataResult,
    Document,
    DocumentInfo,
    Documents,
    Flow,
    GrantInfo,
    Metadata,
    Receipt,
    Tokens,
)

__version__ = "0.2.0"

__all__ = [
    "AccessEnded",
    "AgencyClient",
    "AsyncAgencyClient",
    "Attribute",
    "Authorization",
    "AuthorizationFailed",
    "ConfigurationError",
    "DataResult",
    "Document",
    "DocumentInfo",
    "Documents",
    "Flow",
    "GrantInfo",
    "LogMonitor",
    "Metadata",
    "MonitorState",
    "Receipt",
    "ReceiptInvalid",
    "RequestRejected",
    "SdkError",
    "Tokens",
    "VaultUnavailable",
    "VerifiedReceipt",
    "__version__",
    "generate_key",
    "load_private_key",
    "public_jwks",
    "verify_receipt",
]
