"""Public transparency-log endpoints (DESIGN.md §7): checkpoint, key, proofs, leaves, tiles.

Public and cacheable; they reveal commitments and hashes only, never a record.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import msgspec
from litestar import Controller, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, Parameter
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: TC002  Litestar reads the annotations

from tlog.merkle import HASH_SIZE
from tlog.receipts import Receipt  # noqa: TC001  Litestar reads the return type at runtime
from tlog.tiles import TILE_WIDTH, parse_tile_index
from vault.api.openapi import errors
from vault.api.services import Injected  # noqa: TC001  Litestar reads the annotations
from vault.transparency.log import BadProofRequest, TransparencyLog  # Litestar reads the annotations

MAX_LEAVES_PAGE = 1000
IMMUTABLE = "public, max-age=31536000, immutable"
MUTABLE = "public, max-age=1"
TEXT = "text/plain; charset=utf-8"

NonNegative = Annotated[int, Parameter(ge=0, le=2**63 - 1)]


class InclusionProof(msgspec.Struct):
    """Audit path of one leaf in one tree size."""

    leaf_index: int
    tree_size: int
    audit_path: list[str]


class ConsistencyProof(msgspec.Struct):
    """Proof that one tree size is a prefix of another."""

    consistency: list[str]


class Leaves(msgspec.Struct):
    """Commitments of consecutive leaves (at most ``MAX_LEAVES_PAGE``)."""

    leaves: list[str]


def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(v).decode() for v in values]


class LogController(Controller):
    """``/log/*``."""

    path = "/log"
    tags = ["transparency log"]  # noqa: RUF012

    @get(
        "/checkpoint",
        media_type=TEXT,
        summary="Latest signed checkpoint (C2SP tlog-checkpoint), with cosignatures",
        responses=errors(404, 503),
    )
    async def checkpoint(self, log: Injected[TransparencyLog], engine: Injected[AsyncEngine]) -> Response[str]:
        """The newest published checkpoint as a C2SP signed note, followed by its witnesses' cosignatures.

        With witnesses configured a checkpoint is published once they answered (or timed out), so a
        client that requires a quorum never sees a newer, not yet witnessed one here.
        """
        async with engine.connect() as conn:
            latest = await log.latest_checkpoint(conn)
        if latest is None:
            raise NotFoundException("no checkpoint signed yet")
        return Response(latest[2], media_type=TEXT, headers={"Cache-Control": MUTABLE})

    @get("/key", media_type=TEXT, summary="Verifier key of the log (C2SP vkey)")
    async def key(self, log: Injected[TransparencyLog]) -> Response[str]:
        """``name+keyid+base64`` for checking checkpoints and receipts."""
        return Response(log.signer.vkey() + "\n", media_type=TEXT, headers={"Cache-Control": "public, max-age=3600"})

    @get("/proof/inclusion", summary="Inclusion proof", responses=errors(400, 503))
    async def inclusion(
        self,
        log: Injected[TransparencyLog],
        engine: Injected[AsyncEngine],
        index: NonNegative,
        tree_size: NonNegative,
    ) -> Response[InclusionProof]:
        """Audit path of leaf ``index`` in the tree of ``tree_size``."""
        async with engine.connect() as conn:
            path = await log.inclusion_proof(conn, index, tree_size)
        body = InclusionProof(leaf_index=index, tree_size=tree_size, audit_path=_b64(path))
        return Response(body, headers={"Cache-Control": IMMUTABLE})

    @get("/proof/consistency", summary="Consistency proof", responses=errors(400, 503))
    async def consistency(
        self,
        log: Injected[TransparencyLog],
        engine: Injected[AsyncEngine],
        first: NonNegative,
        second: NonNegative,
    ) -> Response[ConsistencyProof]:
        """Proof that the tree of ``first`` is a prefix of the tree of ``second``."""
        async with engine.connect() as conn:
            proof = await log.consistency_proof(conn, first, second)
        return Response(ConsistencyProof(consistency=_b64(proof)), headers={"Cache-Control": IMMUTABLE})

    @get("/leaves", summary="Leaf commitments, at most 1000 per page", responses=errors(400, 503))
    async def leaves(
        self,
        log: Injected[TransparencyLog],
        engine: Injected[AsyncEngine],
        start: NonNegative,
        end: NonNegative,
    ) -> Response[Leaves]:
        """Commitments of leaves ``[start, min(end, start + 1000))``."""
        if end > start:
            end = min(end, start + MAX_LEAVES_PAGE)
        async with engine.connect() as conn:
            leaves = await log.leaves(conn, start, end)
        return Response(Leaves(leaves=_b64(leaves)), headers={"Cache-Control": IMMUTABLE})

    @get(
        "/receipt",
        summary="Inclusion proof (c2sp tlog-proof) for an integrated commitment; 404 until then",
        responses=errors(400, 404, 503),
    )
    async def receipt(
        self, log: Injected[TransparencyLog], engine: Injected[AsyncEngine], commitment: FromQuery[str]
    ) -> Response[Receipt]:
        """Turn the promise a read returned into a proof. No promise here: its time must not be public."""
        try:
            value = base64.b64decode(commitment.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise BadProofRequest("commitment must be base64") from None
        if len(value) != HASH_SIZE:
            raise BadProofRequest("commitment must be 32 bytes")
        async with engine.connect() as conn:
            found = await log.receipt(conn, value)
        if found is None:
            raise NotFoundException("no integrated entry with this commitment (yet)")
        return Response(found, headers={"Cache-Control": "no-cache"})

    @get(
        "/tile/{level:int}/{rest:path}",
        media_type="application/octet-stream",
        summary="tlog-tiles hash tile",
        responses=errors(400, 404, 503),
    )
    async def tile(
        self,
        log: Injected[TransparencyLog],
        engine: Injected[AsyncEngine],
        level: FromPath[int],
        rest: FromPath[str],
    ) -> Response[bytes]:
        """A hash tile as C2SP tlog-tiles serves it (``.p/W`` for partial tiles)."""
        if not 0 <= level <= 63:
            raise BadProofRequest("tile level must be 0..63")
        try:
            index, width = parse_tile_index(rest.strip("/").split("/"))
        except ValueError as exc:
            raise BadProofRequest(str(exc)) from None
        async with engine.connect() as conn:
            data = await log.tile(conn, level, index)
        want = (width or TILE_WIDTH) * HASH_SIZE
        if data is None or len(data) < want:
            raise NotFoundException("tile not available")
        return Response(data[:want], media_type="application/octet-stream", headers={"Cache-Control": IMMUTABLE})
