"""The asyncio client does what the blocking one does, against the same real vault app."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from litestar.testing import AsyncTestClient

from agency_sdk import AccessEnded, AsyncAgencyClient, LogMonitor, verify_receipt
from tests.sdk.conftest import CALLBACK, ISSUER, _server_date
from vault.app import create_app

if TYPE_CHECKING:
    import httpx

    from tests.sdk.conftest import Vault


async def test_the_async_client_runs_the_journey_and_watches_the_log(vault: Vault) -> None:
    async with AsyncTestClient(create_app(vault.settings), base_url=ISSUER) as http:

        async def server_date(response: httpx.Response) -> None:
            _server_date(response)

        http.event_hooks["response"] = [server_date]
        client = AsyncAgencyClient(ISSUER, vault.client_id, vault.key, redirect_uri=CALLBACK, http=http)
        start = await client.start_authorization("adressabgleich", fields=["given_name", "address"])
        tokens = await client.finish_authorization(start.flow, vault.citizen.decide(start.url))
        data = await client.read_data(tokens)
        assert set(data.attributes) == {"given_name", "address"}
        vkey = await client.log_key()
        verify_receipt(await client.fetch_proof(data.receipt), vkey)

        monitor = LogMonitor(vkey)
        first = await client.check_log(monitor)
        await client.read_data(await client.refresh(tokens))
        await client.fetch_proof((await client.read_data(tokens)).receipt)  # the log has grown
        second = await client.check_log(monitor)
        assert second.size > first.size
        assert monitor.state is not None
        assert monitor.state.size == second.size

        vault.citizen.revoke(tokens.grant_id)
        with pytest.raises(AccessEnded):
            await client.read_data(tokens)
