"""An in-memory transparency log that can be made to lie: for testing monitors and verifiers.

It serves the public log endpoints (``/log/key``, ``/log/checkpoint``, ``/log/proof/consistency``)
through an ``httpx.MockTransport``; the test decides which checkpoint it shows.
"""

from __future__ import annotations

import base64
import hashlib

import httpx

from tlog.merkle import MemoryTree, leaf_hash
from tlog.note import Checkpoint
from vault.crypto.signers import NoteSigner, sign_checkpoint

ORIGIN = "vault.example/log"


class FakeLog:
    """A tree of made-up leaves, signed by ``signer``; ``salt`` makes another history of the same shape."""

    def __init__(self, signer: NoteSigner, size: int = 0, salt: bytes = b"") -> None:
        self.signer = signer
        self.tree = MemoryTree()
        self.salt = salt
        self.grow(size)
        self.shown: str | None = None  # a checkpoint note to show instead of the honest one

    def grow(self, count: int) -> None:
        for _ in range(count):
            self.tree.append(leaf_hash(hashlib.sha256(self.salt + self.tree.size.to_bytes(8, "big")).digest()))

    def checkpoint(self, size: int | None = None) -> str:
        size = self.tree.size if size is None else size
        return sign_checkpoint(Checkpoint(self.signer.name, size, self.tree.root(size)), self.signer)

    def consistency(self, first: int, second: int) -> list[bytes]:
        return self.tree.consistency_proof(first, second)

    def handler(self, request: httpx.Request) -> httpx.Response:
        """The log's public endpoints."""
        if request.url.path == "/log/key":
            return httpx.Response(200, text=self.signer.vkey() + "\n")
        if request.url.path == "/log/checkpoint":
            return httpx.Response(200, text=self.shown or self.checkpoint())
        if request.url.path == "/log/proof/consistency":
            first, second = int(request.url.params["first"]), int(request.url.params["second"])
            proof = [base64.b64encode(h).decode() for h in self.consistency(first, second)]
            return httpx.Response(200, json={"consistency": proof})
        return httpx.Response(404)

    def client(self) -> httpx.Client:
        """An HTTP client whose requests this log answers."""
        return httpx.Client(base_url="https://vault.example", transport=httpx.MockTransport(self.handler))
