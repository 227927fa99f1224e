"""Public log endpoints over HTTP: proofs verify, bad parameters answer 400, nothing personal leaks."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import pytest

from tlog.merkle import MemoryTree, leaf_hash, verify_consistency, verify_inclusion
from tlog.note import Verifier, open_checkpoint
from tlog.receipts import Receipt, ReceiptError, verify_receipt
from vault.transparency.records import LogRecord, utc_now_iso

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

    from tests.support.log_harness import LogHarness

CITIZEN_ID = "citizen-0b7e5c1e-Erika-Mustermann"
PURPOSE = "Anmeldung der neuen Wohnung in Musterstadt"


async def _append(direct: LogHarness, n: int) -> list[bytes]:
    out = []
    async with direct.sessions.begin() as session:
        for _ in range(n):
            record = LogRecord(
                pseudonym=direct.log.pseudonymizer.pseudonym(CITIZEN_ID),
                actor="agency-42",
                action="read",
                time=utc_now_iso(),
                service="ummeldung",
                fields=("given_name", "family_name"),
                purpose=PURPOSE,
                legal_basis="§ 17 BMG",
                grant_id="grant-7",
            )
            out.append((await direct.log.append(session, record)).commitment)
    return out


async def _integrate(direct: LogHarness) -> int:
    while (result := await direct.log.integrate(direct.engine)) is None or result.integrated:
        pass
    return result.size


async def _checkpoint(client: AsyncTestClient[Any]) -> tuple[int, bytes]:
    vkey = (await client.get("/log/key")).text.strip()
    r = await client.get("/log/checkpoint")
    assert r.headers["content-type"].startswith("text/plain")
    cp = open_checkpoint(r.text, Verifier.from_vkey(vkey), "localhost/vault-log")
    return cp.size, cp.root


async def test_proofs_served_over_http_verify(client: AsyncTestClient[Any], direct: LogHarness) -> None:
    commitments = await _append(direct, 20)
    await _integrate(direct)
    commitments += await _append(direct, 300)
    size = await _integrate(direct)
    checkpoint_size, root = await _checkpoint(client)
    assert checkpoint_size == size == 320
    leaves: list[bytes] = []
    for start in range(0, size, 1000):
        r = await client.get("/log/leaves", params={"start": start, "end": size})
        leaves += [base64.b64decode(x) for x in r.json()["leaves"]]
    assert sorted(leaves) == sorted(commitments)
    tree = MemoryTree(leaf_hash(c) for c in leaves)
    assert tree.root() == root
    for index in (0, 19, 20, 255, 256, 319):
        body = (await client.get("/log/proof/inclusion", params={"index": index, "tree_size": size})).json()
        assert (body["leaf_index"], body["tree_size"]) == (index, size)
        verify_inclusion(leaf_hash(leaves[index]), index, size, [base64.b64decode(p) for p in body["audit_path"]], root)
    body = (await client.get("/log/proof/consistency", params={"first": 20, "second": size})).json()
    verify_consistency(20, size, tree.root(20), root, [base64.b64decode(p) for p in body["consistency"]])
    tile = await client.get("/log/tile/0/000")
    assert tile.content == b"".join(tree.node(0, i) for i in range(256))
    partial = await client.get("/log/tile/0/001.p/64")
    assert partial.content == b"".join(tree.node(0, i) for i in range(256, 320))
    assert (await client.get("/log/tile/0/001.p/65")).status_code == 404


async def test_receipts_promise_then_prove(client: AsyncTestClient[Any], direct: LogHarness) -> None:
    vkey, origin = direct.log.signer.vkey(), direct.log.origin
    async with direct.sessions.begin() as session:
        access = await direct.log.append(session, direct.record())
    commitment = access.commitment
    b64 = base64.b64encode(commitment).decode()
    promised = Receipt(commitment=b64, promise=access.promise)  # what a read response carries at once
    checked = verify_receipt(promised, vkey, origin)
    assert checked.commitment == commitment
    assert checked.leaf_index is None
    assert checked.promised_at is not None
    url_b64 = base64.urlsafe_b64encode(commitment).decode()
    await _integrate(direct)
    r = await client.get("/log/receipt", params={"commitment": url_b64})
    assert r.status_code == 200
    public = Receipt(**r.json())
    assert public.promise is None, "the public receipt must not reveal the append time"
    assert public.proof is not None
    checked = verify_receipt(public, vkey, origin)
    assert checked.leaf_index is not None
    full = Receipt(commitment=b64, promise=access.promise, proof=public.proof)
    assert verify_receipt(full, vkey, origin).leaf_index == checked.leaf_index
    with pytest.raises(ReceiptError):
        verify_receipt(Receipt(commitment=base64.b64encode(b"\x00" * 32).decode(), proof=public.proof), vkey, origin)
    with pytest.raises(ReceiptError):
        verify_receipt(Receipt(commitment=b64), vkey, origin)
    other = await client.get("/log/receipt", params={"commitment": base64.b64encode(b"\x01" * 32).decode()})
    assert other.status_code == 404


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/log/proof/inclusion", {"index": "-1", "tree_size": "5"}),
        ("/log/proof/inclusion", {"index": "abc", "tree_size": "5"}),
        ("/log/proof/inclusion", {"index": "5", "tree_size": "5"}),
        ("/log/proof/inclusion", {"index": "0", "tree_size": "6"}),
        ("/log/proof/inclusion", {"index": "0", "tree_size": "99999999999999999999999"}),
        ("/log/proof/inclusion", {"index": "0"}),
        ("/log/proof/consistency", {"first": "3", "second": "2"}),
        ("/log/proof/consistency", {"first": "1", "second": "6"}),
        ("/log/proof/consistency", {"first": "-3", "second": "2"}),
        ("/log/proof/consistency", {"first": "1.5", "second": "2"}),
        ("/log/leaves", {"start": "3", "end": "3"}),
        ("/log/leaves", {"start": "0", "end": "6"}),
        ("/log/leaves", {"start": "x", "end": "6"}),
        ("/log/receipt", {"commitment": "not base64!"}),
        ("/log/receipt", {"commitment": "AAAA"}),
        ("/log/tile/0/1", {}),
        ("/log/tile/0/x1/000", {}),
        ("/log/tile/0/000.p/0", {}),
        ("/log/tile/0/000.p/999", {}),
        ("/log/tile/99/000", {}),
        ("/log/tile/0/x999/x999/x999/x999/x999/x999/x999/000", {}),
        ("/log/tile/0/000.p/1e2", {}),
    ],
)
async def test_bad_parameters_answer_400_with_a_message(
    client: AsyncTestClient[Any], direct: LogHarness, path: str, params: dict[str, str]
) -> None:
    await _append(direct, 5)
    assert await _integrate(direct) == 5
    r = await client.get(path, params=params)
    assert r.status_code == 400, r.text
    assert r.json()["error"]


async def test_public_endpoints_reveal_no_personal_data(client: AsyncTestClient[Any], direct: LogHarness) -> None:
    commitments = await _append(direct, 300)
    size = await _integrate(direct)
    secrets = [
        CITIZEN_ID,
        direct.log.pseudonymizer.pseudonym(CITIZEN_ID),
        PURPOSE,
        "given_name",
        "grant-7",
        "agency-42",
    ]
    urls = [
        "/log/checkpoint",
        "/log/key",
        "/log/tile/0/000",
        "/log/tile/0/001.p/44",
        "/log/tile/1/000.p/1",
        f"/log/leaves?start=0&end={size}",
        f"/log/proof/inclusion?index=7&tree_size={size}",
        f"/log/proof/consistency?first=3&second={size}",
        "/log/receipt?commitment=" + base64.urlsafe_b64encode(commitments[0]).decode(),
    ]
    for url in urls:
        r = await client.get(url)
        assert r.status_code == 200, (url, r.text)
        for secret in secrets:
            for form in (
                secret.encode(),
                base64.b64encode(secret.encode()),
                bytes.fromhex(secret) if len(secret) == 64 else b"\x00" * 40,
            ):
                assert form not in r.content, (url, secret)


async def test_a_leaves_page_is_cut_at_1000(client: AsyncTestClient[Any], direct: LogHarness) -> None:
    commitments = await _append(direct, 1005)
    size = await _integrate(direct)
    assert size == 1005
    r = await client.get(f"/log/leaves?start=2&end={size}")
    assert r.status_code == 200
    leaves = r.json()["leaves"]
    assert len(leaves) == 1000
    assert [base64.b64decode(x) for x in leaves] == commitments[2:1002]
