"""The vault's checkpoints are cosigned by its witnesses before they are served; a dead witness never stops the log.

In-process: the log is driven from the test (``harness``) and the witness is the real witness app over
an httpx transport. End to end: a real ``vault serve`` configured with a real ``vault witness serve``
(and a witness that is down), checked with ``vault log verify --witness … --quorum …``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select

from agency_sdk import Receipt, verify_receipt
from tests.support.postgres import free_port
from tests.support.server import RunningVault, serve, vault_cmd, wait_for
from tlog.cosignature import CosignatureVerifier, QuorumError, open_witnessed_checkpoint
from tlog.note import Verifier
from vault.audit.witness_app import create_witness_app, open_witness
from vault.crypto.signers import Cosigner, NoteSigner
from vault.transparency.tables import LogCosignature, LogEntry
from vault.transparency.witnessing import Witnessing

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.log_harness import LogHarness
    from vault.audit.witness import Witness
    from vault.config import Settings

NAME = "witness.example/w1"


class Router(httpx.AsyncBaseTransport):
    """Witnesses by host name: an app, a host that refuses connections, one that never answers."""

    def __init__(self, apps: dict[str, httpx.AsyncBaseTransport]) -> None:
        self.apps = apps

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host.startswith("down"):
            raise httpx.ConnectError("connection refused", request=request)
        if host.startswith("slow"):
            await asyncio.sleep(30)
        return await self.apps[host].handle_async_request(request)


def a_witness(tmp_path: Path, harness: LogHarness, name: str = NAME) -> Witness:
    return open_witness(tmp_path / name.replace("/", "_"), name, [harness.log.signer.vkey()])


def other_vkey(name: str) -> str:
    return Cosigner(name, Ed25519PrivateKey.generate()).vkey()


async def served(harness: LogHarness) -> tuple[int, bytes, str] | None:
    async with harness.engine.connect() as conn:
        return await harness.log.latest_checkpoint(conn)


async def receipt_for_entry(harness: LogHarness, entry_id: int) -> Receipt | None:
    async with harness.engine.connect() as conn:
        commitment = await conn.scalar(select(LogEntry.commitment).where(LogEntry.id == entry_id))
        found = await harness.log.receipt(conn, bytes(commitment))
    return None if found is None else Receipt(found.commitment, found.promise, found.proof)


async def test_checkpoints_wait_for_the_witness_and_are_served_cosigned(harness: LogHarness, tmp_path: Path) -> None:
    witness = a_witness(tmp_path, harness)
    transport = Router({"w1.test": httpx.ASGITransport(create_witness_app(witness))})
    witnessing = Witnessing(harness.log, [("http://w1.test", witness.cosigner.vkey())], timeout=5, transport=transport)
    log_vkey, witness_vkey = harness.log.signer.vkey(), witness.cosigner.vkey()
    try:
        (first_entry, *_) = await harness.append(10)
        await harness.log.integrate(harness.engine, publish=False)
        assert await served(harness) is None  # signed, but not served before the witness was asked
        assert await receipt_for_entry(harness, first_entry) is None  # nor used for receipts
        published = await witnessing.publish(harness.engine)
        assert published is not None
        assert (published.size, published.cosigned_by) == (10, (NAME,))
        assert await witnessing.publish(harness.engine) is None  # nothing waits any more
        size, _, note = await served(harness)  # type: ignore[misc]
        assert size == 10
        opened = open_witnessed_checkpoint(
            note, Verifier.from_vkey(log_vkey), [CosignatureVerifier.from_vkey(witness_vkey)]
        )
        assert [c.name for c in opened.cosignatures] == [NAME]

        await harness.append(5)  # the witness gets a consistency proof from 10
        await harness.log.integrate(harness.engine, publish=False)
        assert (await witnessing.publish(harness.engine)).cosigned_by == (NAME,)  # type: ignore[union-attr]
        assert witness.state.latest(harness.log.origin).size == 15  # type: ignore[union-attr]

        receipt = await receipt_for_entry(harness, first_entry)  # the receipt's checkpoint is the cosigned one
        assert receipt is not None
        assert verify_receipt(receipt, log_vkey, witnesses=[witness_vkey]).tree_size == 15
        async with harness.engine.connect() as conn:
            rows = (await conn.execute(select(LogCosignature.witness, LogCosignature.size))).all()
        assert sorted(rows) == [
            (f"{NAME}+{witness.cosigner.key_id:08x}", 10),
            (f"{NAME}+{witness.cosigner.key_id:08x}", 15),
        ]
    finally:
        await witnessing.aclose()


async def test_a_witness_ahead_of_what_the_vault_remembers_is_caught_up_from_its_409(
    harness: LogHarness, tmp_path: Path
) -> None:
    witness = a_witness(tmp_path, harness)
    transport = Router({"w1.test": httpx.ASGITransport(create_witness_app(witness))})
    witnessing = Witnessing(harness.log, [("http://w1.test", witness.cosigner.vkey())], timeout=5, transport=transport)
    try:
        await harness.append(7)
        await harness.log.integrate(harness.engine, publish=False)
        await witnessing.publish(harness.engine)
        async with harness.engine.begin() as conn:
            await conn.execute(delete(LogCosignature))  # e.g. a crash between the witness's answer and the commit
        await harness.append(4)
        await harness.log.integrate(harness.engine, publish=False)
        published = await witnessing.publish(harness.engine)  # "old 0" → 409 "7" → retried with a proof from 7
        assert published is not None
        assert (published.size, published.cosigned_by) == (11, (NAME,))
    finally:
        await witnessing.aclose()


async def test_witnesses_that_are_down_slow_or_refusing_do_not_stop_publication(
    harness: LogHarness, tmp_path: Path
) -> None:
    good = a_witness(tmp_path, harness)
    another_key = NoteSigner(harness.log.origin, Ed25519PrivateKey.generate()).vkey()  # it trusts another log key: 403
    refusing = open_witness(tmp_path / "refusing", "refusing.example/w", [another_key])
    transport = Router(
        {"w1.test": httpx.ASGITransport(create_witness_app(good)),
         "refusing.test": httpx.ASGITransport(create_witness_app(refusing))}
    )  # fmt: skip
    witnesses = [
        ("http://w1.test", good.cosigner.vkey()),
        ("http://down.test", other_vkey("down.example/w")),
        ("http://slow.test", other_vkey("slow.example/w")),
        ("http://refusing.test", refusing.cosigner.vkey()),
    ]
    witnessing = Witnessing(harness.log, witnesses, timeout=0.5, transport=transport)
    try:
        await harness.append(3)
        await harness.log.integrate(harness.engine, publish=False)
        started = time.monotonic()
        published = await witnessing.publish(harness.engine)
        assert time.monotonic() - started < 5  # bounded by the timeout, not by the slow witness
        assert published is not None
        assert published.cosigned_by == (NAME,)
        _, _, note = await served(harness)  # type: ignore[misc]
        log = Verifier.from_vkey(harness.log.signer.vkey())
        all_four = [CosignatureVerifier.from_vkey(vkey) for _, vkey in witnesses]
        assert len(open_witnessed_checkpoint(note, log, all_four, quorum=1).cosignatures) == 1
        with pytest.raises(QuorumError, match="1 of the 4 named witnesses"):
            open_witnessed_checkpoint(note, log, all_four, quorum=2)
    finally:
        await witnessing.aclose()


async def test_without_witnesses_checkpoints_are_served_at_once_and_held_ones_are_released(
    harness: LogHarness,
) -> None:
    await harness.append(2)
    result = await harness.log.integrate(harness.engine)
    assert result is not None
    assert (await served(harness))[::2] == (2, result.checkpoint)  # type: ignore[index]
    await harness.append(3)
    await harness.log.integrate(harness.engine, publish=False)  # witnesses were configured …
    assert (await served(harness))[0] == 2  # type: ignore[index]
    await harness.log.integrate(harness.engine)  # … and are not any more: nothing pending, the held one is released
    assert (await served(harness))[0] == 5  # type: ignore[index]


# --- end to end: vault serve + vault witness serve ------------------------------------------------


@contextlib.contextmanager
def witness_server(tmp_path: Path, state_dir: Path, log_vkey: str) -> Iterator[RunningVault]:
    port = free_port()
    log_path = tmp_path / f"witness-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    args = ["witness", "serve", "--state-dir", str(state_dir), "--name", NAME, "--log", log_vkey, "--port", str(port)]
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "vault.cli", *args],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
    running = RunningVault(process, f"http://127.0.0.1:{port}", log_path, port)
    try:
        wait_for(running, "/healthz", 200)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def wait_for_checkpoint(base_url: str, size: int, *, cosigned: bool) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = httpx.get(base_url + "/log/checkpoint")
        grown = response.status_code == 200 and int(response.text.split("\n")[1]) >= size
        if grown and (not cosigned or f"\u2014 {NAME} " in response.text):
            return response.text
        time.sleep(0.1)
    raise AssertionError(f"no {'cosigned ' if cosigned else ''}checkpoint of size {size} was served")


def verify(base_url: str, state: Path, *args: str) -> tuple[int, str]:
    result = vault_cmd("log", "verify", "--url", base_url, "--state", str(state), *args)
    return result.returncode, result.stdout + result.stderr


async def test_a_vault_with_witnesses_serves_cosigned_checkpoints_and_verify_requires_the_quorum(
    harness: LogHarness, migrated: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_vkey = harness.log.signer.vkey()
    state_dir = tmp_path / "witness-state"
    witness_vkey = vault_cmd("witness", "key", "--state-dir", str(state_dir), "--name", NAME).stdout.strip()
    down_vkey = other_vkey("down.example/w")
    with witness_server(tmp_path, state_dir, log_vkey) as witness:
        env = {
            "VAULT_DATA_DIR": str(migrated.data_dir),
            "VAULT_DATABASE_URL": migrated.database_url,
            "VAULT_WITNESSES": f"{witness.base_url}={witness_vkey}, http://127.0.0.1:{free_port()}={down_vkey}",
            "VAULT_WITNESS_TIMEOUT": "1",
        }
        with serve(tmp_path, env) as vault:
            await harness.append(20)
            note = wait_for_checkpoint(vault.base_url, 20, cosigned=True)
            assert note.count("\n\u2014 ") == 2  # the log's signature and the one witness's that is up

            code, out = verify(vault.base_url, tmp_path / "a.json", "--witness", witness_vkey, "--quorum", "1")
            assert code == 0, out
            assert f"cosigned by {NAME}" in out
            code, out = verify(vault.base_url, tmp_path / "b.json", "--witness", witness_vkey, "--witness", down_vkey)
            assert code == 1, out  # the default quorum is every witness named, and one is down
            assert "not witnessed" in out
            code, out = verify(vault.base_url, tmp_path / "c.json", "--witness", other_vkey(NAME))
            assert code == 1, out  # the right name with another key is no cosignature
            assert "not witnessed" in out
            code, out = verify(vault.base_url, tmp_path / "d.json", "--quorum", "1")
            assert code == 2, out  # a quorum of no one named

            monitor = vault_cmd("audit", "monitor", "--url", vault.base_url, "--state", str(tmp_path / "m.json"),
                                "--rounds", "1", "--witness", witness_vkey)  # fmt: skip
            assert monitor.returncode == 0, monitor.stdout + monitor.stderr

            witness.process.send_signal(signal.SIGTERM)  # now every witness is down: the log goes on
            witness.process.wait(timeout=20)
            await harness.append(5)
            note = wait_for_checkpoint(vault.base_url, 25, cosigned=False)
            assert f"\u2014 {NAME} " not in note
            code, out = verify(vault.base_url, tmp_path / "a.json", "--witness", witness_vkey, "--quorum", "1")
            assert code == 1, out
            assert "not witnessed" in out
            code, out = verify(vault.base_url, tmp_path / "a.json")  # without witnesses it verifies and extends 20
            assert code == 0, out
            assert "consistent with 20" in out
