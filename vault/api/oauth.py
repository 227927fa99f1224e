"""The authorization server's public endpoints (DESIGN.md §5). So far: the JWK Set.

``/oauth/jwks`` publishes the vault's ES256 key that signs consent receipts, so an agency or a
citizen can verify a receipt with any JOSE library.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.datastructures import State  # noqa: TC002  Litestar reads the annotations at runtime


class OAuthController(Controller):
    """``/oauth/*``."""

    path = "/oauth"
    tags = ["oauth"]  # noqa: RUF012

    @get("/jwks", summary="The vault's public signing keys (JWK Set)")
    async def jwks(self, state: State) -> Response[dict[str, Any]]:
        """Cacheable for an hour."""
        signer = state.runtime.receipt_signer
        return Response(
            signer.jwks(), media_type="application/jwk-set+json", headers={"Cache-Control": "public, max-age=3600"}
        )
