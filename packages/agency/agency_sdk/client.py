"""The agency clients: :class:`AgencyClient` (blocking) and :class:`AsyncAgencyClient` (asyncio), on httpx.

Both drive the same :class:`~agency_sdk.protocol.Protocol`; a method of one does exactly what the
method of the same name of the other does.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from agency_sdk.errors import VaultUnavailable
from agency_sdk.protocol import Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

    from agency_sdk.log import LogMonitor
    from agency_sdk.models import Authorization, DataResult, Document, Documents, Flow, Metadata, Receipt, Tokens
    from agency_sdk.protocol import Step
    from tlog.note import Checkpoint

T = TypeVar("T")
PROOF_POLL_S = 0.25


class _Common:
    def __init__(self, issuer: str, client_id: str, private_key: Any, **options: Any) -> None:
        """``options``: ``redirect_uri``, ``dpop_key``, ``kid``, ``clock`` (see :class:`Protocol`)."""
        self.protocol = Protocol(issuer, client_id, private_key, **options)

    @property
    def issuer(self) -> str:
        """The vault's issuer URL."""
        return self.protocol.issuer


def _unreachable(exc: httpx.HTTPError) -> VaultUnavailable:
    return VaultUnavailable(f"the vault could not be reached ({type(exc).__name__})")


class AgencyClient(_Common):
    """Blocking client. ``http`` may be your own ``httpx.Client`` (proxies, timeouts, test apps)."""

    def __init__(self, issuer: str, client_id: str, private_key: Any, *, http: httpx.Client | None = None,
                 timeout: float = 10.0, **options: Any) -> None:  # fmt: skip
        super().__init__(issuer, client_id, private_key, **options)
        self.http = http or httpx.Client(timeout=timeout)
        self._own_http = http is None

    def _run(self, step: Step[T]) -> T:
        try:
            request = next(step)
            while True:
                try:
                    response = self.http.send(request)
                except httpx.HTTPError as exc:
                    raise _unreachable(exc) from None
                request = step.send(response)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def discover(self) -> Metadata:
        """The vault's endpoints (fetched once)."""
        return self._run(self.protocol.discover())

    def start_authorization(self, service: str, **options: Any) -> Authorization:
        """Push the request for ``service``: where to send the citizen, and the flow to keep.

        Options: ``fields`` and ``documents`` (narrower than the service), ``state``, ``redirect_uri``.
        """
        return self._run(self.protocol.start(service, **options))

    def finish_authorization(self, flow: Flow, callback: str | Mapping[str, str]) -> Tokens:
        """The tokens, from the callback URL (or its query parameters) and the flow kept since the start."""
        return self._run(self.protocol.finish(flow, callback))

    def read_data(self, tokens: Tokens) -> DataResult:
        """The granted attributes, with the read's receipt."""
        return self._run(self.protocol.read_data(tokens))

    def list_documents(self, tokens: Tokens) -> Documents:
        """The granted documents there are, and the kinds still pending."""
        return self._run(self.protocol.list_documents(tokens))

    def download_document(self, tokens: Tokens, document_id: str) -> Document:
        """One granted document, with the read's receipt."""
        return self._run(self.protocol.download_document(tokens, document_id))

    def refresh(self, tokens: Tokens) -> Tokens:
        """A new access token for the same grant."""
        return self._run(self.protocol.refresh(tokens))

    def revoke(self, tokens: Tokens) -> None:
        """Revoke the agency's tokens."""
        self._run(self.protocol.revoke(tokens))

    def fetch_proof(self, receipt: Receipt, wait: float = 10.0) -> Receipt:
        """The receipt with its inclusion proof, waiting up to ``wait`` seconds for the entry to be integrated."""
        deadline = time.monotonic() + wait
        while (proven := self._run(self.protocol.proof_for(receipt))) is None:
            if time.monotonic() >= deadline:
                raise VaultUnavailable(f"the log did not integrate the entry within {wait} s")
            time.sleep(PROOF_POLL_S)
        return proven

    def log_key(self) -> str:
        """The log's verifier key as the vault serves it (pin it; do not trust it anew each time)."""
        return self._run(self.protocol.text("/log/key")).strip()

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The log's consistency proof between two sizes."""
        return self._run(self.protocol.consistency(first, second))

    def check_log(self, monitor: LogMonitor) -> Checkpoint:
        """Fetch the latest checkpoint and let ``monitor`` verify it extends what it has seen."""
        note = self._run(self.protocol.text("/log/checkpoint"))
        return monitor.observe(note, self.consistency_proof)

    def close(self) -> None:
        """Close the HTTP client if the SDK made it."""
        if self._own_http:
            self.http.close()

    def __enter__(self) -> AgencyClient:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class AsyncAgencyClient(_Common):
    """Asyncio client. ``http`` may be your own ``httpx.AsyncClient``."""

    def __init__(self, issuer: str, client_id: str, private_key: Any, *, http: httpx.AsyncClient | None = None,
                 timeout: float = 10.0, **options: Any) -> None:  # fmt: skip
        super().__init__(issuer, client_id, private_key, **options)
        self.http = http or httpx.AsyncClient(timeout=timeout)
        self._own_http = http is None

    async def _run(self, step: Step[T]) -> T:
        try:
            request = next(step)
            while True:
                try:
                    response = await self.http.send(request)
                except httpx.HTTPError as exc:
                    raise _unreachable(exc) from None
                request = step.send(response)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def discover(self) -> Metadata:
        """The vault's endpoints (fetched once)."""
        return await self._run(self.protocol.discover())

    async def start_authorization(self, service: str, **options: Any) -> Authorization:
        """Push the request for ``service``: where to send the citizen, and the flow to keep."""
        return await self._run(self.protocol.start(service, **options))

    async def finish_authorization(self, flow: Flow, callback: str | Mapping[str, str]) -> Tokens:
        """The tokens, from the callback URL (or its query parameters) and the flow kept since the start."""
        return await self._run(self.protocol.finish(flow, callback))

    async def read_data(self, tokens: Tokens) -> DataResult:
        """The granted attributes, with the read's receipt."""
        return await self._run(self.protocol.read_data(tokens))

    async def list_documents(self, tokens: Tokens) -> Documents:
        """The granted documents there are, and the kinds still pending."""
        return await self._run(self.protocol.list_documents(tokens))

    async def download_document(self, tokens: Tokens, document_id: str) -> Document:
        """One granted document, with the read's receipt."""
        return await self._run(self.protocol.download_document(tokens, document_id))

    async def refresh(self, tokens: Tokens) -> Tokens:
        """A new access token for the same grant."""
        return await self._run(self.protocol.refresh(tokens))

    async def revoke(self, tokens: Tokens) -> None:
        """Revoke the agency's tokens."""
        await self._run(self.protocol.revoke(tokens))

    async def fetch_proof(self, receipt: Receipt, wait: float = 10.0) -> Receipt:
        """The receipt with its inclusion proof, waiting up to ``wait`` seconds for the entry to be integrated."""
        deadline = time.monotonic() + wait
        while (proven := await self._run(self.protocol.proof_for(receipt))) is None:
            if time.monotonic() >= deadline:
                raise VaultUnavailable(f"the log did not integrate the entry within {wait} s")
            await asyncio.sleep(PROOF_POLL_S)
        return proven

    async def log_key(self) -> str:
        """The log's verifier key as the vault serves it (pin it; do not trust it anew each time)."""
        return (await self._run(self.protocol.text("/log/key"))).strip()

    async def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The log's consistency proof between two sizes."""
        return await self._run(self.protocol.consistency(first, second))

    async def check_log(self, monitor: LogMonitor) -> Checkpoint:
        """Fetch the latest checkpoint and let ``monitor`` verify it extends what it has seen."""
        note = await self._run(self.protocol.text("/log/checkpoint"))
        span = monitor.proof_span(note)  # the one proof observe asks for, fetched first
        proof = await self.consistency_proof(*span) if span else []
        return monitor.observe(note, lambda first, second: proof)

    async def aclose(self) -> None:
        """Close the HTTP client if the SDK made it."""
        if self._own_http:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncAgencyClient:
        return self

    async def __aexit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.aclose()
