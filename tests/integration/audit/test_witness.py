"""The witness (C2SP tlog-witness) refuses whatever would make it vouch for a lie, with the spec's status codes.

The logs are :class:`~tests.support.fake_log.FakeLog` trees signed by a log key the witness trusts;
the witness is the real app, in-process, over its own SQLite state file.
"""

from __future__ import annotations

import asyncio
import stat
import threading
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar.testing import AsyncTestClient, TestClient

from tests.support.fake_log import ORIGIN, FakeLog
from tests.support.server import vault_cmd
from tlog.cosignature import SIZE_MEDIA_TYPE, CosignatureVerifier, format_add_checkpoint, open_witnessed_checkpoint
from tlog.note import Verifier
from vault.audit.witness import Conflict, StateError, Witness, WitnessState
from vault.audit.witness_app import MAX_BODY, create_witness_app, open_witness
from vault.crypto.signers import Cosigner, NoteSigner

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import httpx

NAME = "witness.example/w1"


@pytest.fixture
def log() -> FakeLog:
    return FakeLog(NoteSigner(ORIGIN, Ed25519PrivateKey.generate()), 8)


@pytest.fixture
def witness(tmp_path: Path, log: FakeLog) -> Witness:
    return open_witness(tmp_path / "witness", NAME, [log.signer.vkey()])


@pytest.fixture
def http(witness: Witness) -> Iterator[TestClient]:
    with TestClient(create_witness_app(witness)) as client:
        yield client


def add(http: TestClient, old: int, note: str, proof: list[bytes] | None = None) -> httpx.Response:
    return http.post("/add-checkpoint", content=format_add_checkpoint(old, proof or [], note))


def cosigned(note: str, response: httpx.Response, witness: Witness, log: FakeLog) -> int:
    """The size of the checkpoint ``response`` cosigned, after verifying the cosignature as a client would."""
    assert response.status_code == 200, response.text
    assert response.text.startswith("\u2014 " + NAME + " ")
    opened = open_witnessed_checkpoint(
        note + response.text,
        Verifier.from_vkey(log.signer.vkey()),
        [CosignatureVerifier.from_vkey(witness.cosigner.vkey())],
    )
    return opened.checkpoint.size


def test_a_consistent_log_is_cosigned_as_it_grows(http: TestClient, witness: Witness, log: FakeLog) -> None:
    first = log.checkpoint()
    assert cosigned(first, add(http, 0, first), witness, log) == 8
    log.grow(5)
    second = log.checkpoint()
    assert cosigned(second, add(http, 8, second, log.consistency(8, 13)), witness, log) == 13
    again = add(http, 13, second)  # the same checkpoint again: a fresh cosignature
    assert cosigned(second, again, witness, log) == 13
    stored = witness.state.latest(ORIGIN)
    assert stored is not None
    assert (stored.size, stored.root, stored.note) == (13, log.tree.root(), second)


def test_a_forged_checkpoint_is_refused_403(http: TestClient, log: FakeLog) -> None:
    forger = FakeLog(NoteSigner(ORIGIN, Ed25519PrivateKey.generate()), 8)  # same origin, another key
    response = add(http, 0, forger.checkpoint())
    assert response.status_code == 403, response.text
    tampered = log.checkpoint().replace("\n8\n", "\n9\n", 1)  # the log's signature over another size
    assert add(http, 0, tampered).status_code == 403


def test_an_unknown_origin_is_refused_404(http: TestClient) -> None:
    elsewhere = FakeLog(NoteSigner("other.example/log", Ed25519PrivateKey.generate()), 3)
    assert add(http, 0, elsewhere.checkpoint()).status_code == 404


def test_a_rolled_back_checkpoint_is_refused(http: TestClient, witness: Witness, log: FakeLog) -> None:
    assert add(http, 0, log.checkpoint()).status_code == 200
    smaller = log.checkpoint(5)  # signed by the log, but smaller than what the witness cosigned
    response = add(http, 5, smaller)
    assert response.status_code == 409
    assert response.headers["content-type"].startswith(SIZE_MEDIA_TYPE)
    assert response.text == "8\n"  # the witness's size, so an honest client can retry from it
    assert add(http, 0, smaller).status_code == 409
    assert add(http, 8, smaller).status_code == 400  # old size above the checkpoint's: malformed
    assert witness.state.latest(ORIGIN).size == 8  # type: ignore[union-attr]


def test_a_split_view_is_refused_and_kept_as_evidence(http: TestClient, witness: Witness, log: FakeLog) -> None:
    other = FakeLog(log.signer, 8, salt=b"what another client is shown")
    assert add(http, 0, log.checkpoint()).status_code == 200
    same_size = add(http, 8, other.checkpoint())  # same size, same key, another root
    assert same_size.status_code == 409
    assert same_size.text == "8\n"
    other.grow(4)  # the other history grows: no proof from the cosigned tree can exist
    grown = add(http, 8, other.checkpoint(), other.consistency(8, 12))
    assert grown.status_code == 422
    reasons = [reason for reason, _ in witness.state.evidence(ORIGIN)]
    assert reasons[0] == "another root for a cosigned size"
    assert reasons[1].startswith("bad consistency proof")
    assert witness.state.latest(ORIGIN).root == log.tree.root()  # type: ignore[union-attr]


def test_a_bad_consistency_proof_is_refused_422(http: TestClient, log: FakeLog) -> None:
    assert add(http, 0, log.checkpoint()).status_code == 200
    log.grow(6)
    assert add(http, 8, log.checkpoint(), [b"\x00" * 32] * 3).status_code == 422
    assert add(http, 8, log.checkpoint(), []).status_code == 422
    assert add(http, 8, log.checkpoint(), log.consistency(8, 14)).status_code == 200


def test_a_proof_from_the_empty_tree_must_be_empty(http: TestClient, log: FakeLog) -> None:
    assert add(http, 0, log.checkpoint(), [b"\x01" * 32]).status_code == 422


@pytest.mark.parametrize(
    "body",
    [b"", b"hello", b"old 0\n", b"old x\n\nnote\n", b"old 0\n\nnot a checkpoint\n\n- a b\n", b"old 0\n\n\xff\n"],
)
def test_malformed_bodies_are_refused_400(http: TestClient, body: bytes) -> None:
    assert http.post("/add-checkpoint", content=body).status_code == 400


def test_an_oversized_body_is_refused(http: TestClient, log: FakeLog) -> None:
    padded = format_add_checkpoint(0, [], log.checkpoint()) + b"x" * MAX_BODY
    assert http.post("/add-checkpoint", content=padded).status_code == 413


async def test_of_two_concurrent_checkpoints_of_one_size_exactly_one_is_cosigned(tmp_path: Path, log: FakeLog) -> None:
    other = FakeLog(log.signer, 8, salt=b"the other side of the split")
    bodies = [format_add_checkpoint(0, [], log.checkpoint()), format_add_checkpoint(0, [], other.checkpoint())]
    for round_ in range(5):
        witness = open_witness(tmp_path / f"witness-{round_}", NAME, [log.signer.vkey()])
        async with AsyncTestClient(create_witness_app(witness)) as client:
            answers = await asyncio.gather(*(client.post("/add-checkpoint", content=body) for body in bodies))
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        winner = log if answers[0].status_code == 200 else other
        assert witness.state.latest(ORIGIN).root == winner.tree.root()  # type: ignore[union-attr]


def test_concurrent_requests_in_threads_never_both_pass(witness: Witness, log: FakeLog) -> None:
    other = FakeLog(log.signer, 8, salt=b"another")
    bodies = [format_add_checkpoint(0, [], log.checkpoint()), format_add_checkpoint(0, [], other.checkpoint())]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def submit(body: bytes) -> None:
        barrier.wait()
        try:
            witness.add_checkpoint(body)
            outcomes.append("cosigned")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=submit, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "cosigned"]


def test_the_state_survives_a_restart(tmp_path: Path, log: FakeLog) -> None:
    state_dir = tmp_path / "witness"
    first = open_witness(state_dir, NAME, [log.signer.vkey()])
    first.add_checkpoint(format_add_checkpoint(0, [], log.checkpoint()))
    again = open_witness(state_dir, NAME, [log.signer.vkey()])  # a new process: same key, same state
    assert again.cosigner.vkey() == first.cosigner.vkey()
    with pytest.raises(Conflict) as refused:
        again.add_checkpoint(format_add_checkpoint(0, [], log.checkpoint(5)))
    assert refused.value.size == 8
    assert stat.S_IMODE((state_dir / "witness.key").stat().st_mode) == 0o600
    with pytest.raises(StateError, match="belongs to witness"):
        open_witness(state_dir, "witness.example/renamed", [log.signer.vkey()])


def test_a_witness_refuses_to_witness_its_own_key(tmp_path: Path) -> None:
    state = WitnessState(tmp_path / "w.db")
    key = Ed25519PrivateKey.generate()
    with pytest.raises(StateError, match="own key"):
        Witness(Cosigner(NAME, key), [Verifier.from_vkey(NoteSigner(ORIGIN, key).vkey())], state)


def test_witness_key_command_makes_the_key_once(tmp_path: Path) -> None:
    state_dir = tmp_path / "w"
    first = vault_cmd("witness", "key", "--state-dir", str(state_dir), "--name", NAME)
    assert first.returncode == 0, first.stderr
    vkey = first.stdout.strip()
    assert CosignatureVerifier.from_vkey(vkey).name == NAME
    assert vault_cmd("witness", "key", "--state-dir", str(state_dir), "--name", NAME).stdout.strip() == vkey
    assert stat.S_IMODE((state_dir / "witness.key").stat().st_mode) == 0o600
    renamed = vault_cmd("witness", "key", "--state-dir", str(state_dir), "--name", "other.example/w")
    assert renamed.returncode == 2
    assert "belongs to witness" in renamed.stderr
    bad_log = vault_cmd("witness", "serve", "--state-dir", str(state_dir), "--name", NAME, "--log", "nonsense")
    assert bad_log.returncode == 2
    assert "malformed" in bad_log.stderr
