"""cosignature/v1 (C2SP tlog-cosignature): keys, signing, verifying, quorums; tlog-witness request bodies."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from tlog.cosignature import (
    ALG_COSIGNATURE_V1,
    MAX_PROOF_LINES,
    CosignatureVerifier,
    QuorumError,
    RequestError,
    cosignatures,
    format_add_checkpoint,
    key_id,
    open_witnessed_checkpoint,
    parse_add_checkpoint,
    parse_size,
    response_cosignatures,
    signed_message,
)
from tlog.note import Checkpoint, NoteError, Verifier, open_note
from vault.crypto.signers import Cosigner, NoteSigner, sign_checkpoint

ORIGIN = "example.com/behind-the-sofa"
ROOT = base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
SEED = bytes(range(32))


@pytest.fixture
def log() -> NoteSigner:
    return NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(b"\x01" * 32))


def witness(name: str = "witness.example/w1", seed: bytes = SEED) -> Cosigner:
    return Cosigner(name, Ed25519PrivateKey.from_private_bytes(seed))


def checkpoint_note(log: NoteSigner, size: int = 20852163, root: bytes = ROOT) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, root), log)


def cosign(note: str, *cosigners: Cosigner, timestamp: int = 1679315147) -> str:
    text = note.partition("\n\n")[0] + "\n"
    return note + "".join(c.signature_line(text, timestamp) for c in cosigners)


def verifier(cosigner: Cosigner) -> CosignatureVerifier:
    return CosignatureVerifier.from_vkey(cosigner.vkey())


# --- known answers (the spec's examples and transparency-dev/formats' test keys) ------------------


def test_key_id_of_a_published_cosignature_v1_vkey() -> None:
    # a witness key from transparency-dev/formats note_cosigv1_test.go: its id is SHA-256(name \n 0x04 key)[:4]
    vkey = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
    parsed = CosignatureVerifier.from_vkey(vkey)
    assert (parsed.name, parsed.key_id) == ("remora.n621.de", 0xDA77ADE7)
    assert parsed.vkey() == vkey
    raw = base64.b64decode(vkey.split("+")[2])
    assert raw[0] == ALG_COSIGNATURE_V1
    assert key_id("remora.n621.de", raw[1:]) == int.from_bytes(hashlib.sha256(b"remora.n621.de\n" + raw).digest()[:4])


@pytest.mark.parametrize(
    ("signature", "timestamp"),
    [
        # the tlog-cosignature spec's example cosignature line
        ("jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==",
         1679315147),
        # transparency-dev/formats TestCoSigV1Timestamp
        ("ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==",
         1727964367),
    ],
)  # fmt: skip
def test_published_cosignatures_have_the_timestamped_layout(signature: str, timestamp: int) -> None:
    raw = base64.b64decode(signature)
    assert len(raw) == 4 + 8 + 64  # key id || u64 timestamp || Ed25519 signature
    assert int.from_bytes(raw[4:12], "big") == timestamp


def test_the_signed_message_is_the_spec_example() -> None:
    body = f"{ORIGIN}\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert signed_message(body, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n"
        b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_a_line_is_key_id_timestamp_and_ed25519_over_the_message(log: NoteSigner) -> None:
    w = witness()
    text = checkpoint_note(log).partition("\n\n")[0] + "\n"
    line = w.signature_line(text, 1679315147)
    name, b64 = line.removeprefix("\u2014 ").removesuffix("\n").split(" ")
    raw = base64.b64decode(b64)
    assert name == w.name
    assert raw[:4] == w.key_id.to_bytes(4, "big")
    assert raw[4:12] == (1679315147).to_bytes(8, "big")
    public = Ed25519PrivateKey.from_private_bytes(SEED).public_key()
    public.verify(raw[12:], signed_message(text, 1679315147))  # raises if not
    assert w.signature_line(text, 1679315147) == line  # Ed25519 is deterministic: a known answer for this key


# --- verifying ------------------------------------------------------------------------------------


def test_a_cosigned_checkpoint_verifies_with_the_timestamps(log: NoteSigner) -> None:
    w1, w2 = witness(), witness("witness.example/w2", b"\x02" * 32)
    note = cosign(checkpoint_note(log), w1, w2)
    opened = open_witnessed_checkpoint(note, Verifier.from_vkey(log.vkey()), [verifier(w1), verifier(w2)])
    assert opened.checkpoint.size == 20852163
    assert [(c.name, c.timestamp) for c in opened.cosignatures] == [(w1.name, 1679315147), (w2.name, 1679315147)]
    # a plain signed-note reader ignores the cosignatures (unknown keys) and still verifies the log's
    assert open_note(note, [Verifier.from_vkey(log.vkey())]).signatures == [(ORIGIN, log.key_id)]


def test_a_quorum_counts_distinct_keys_and_defaults_to_all(log: NoteSigner) -> None:
    w1, w2 = witness(), witness("witness.example/w2", b"\x02" * 32)
    note = cosign(checkpoint_note(log), w1)
    logv, both = Verifier.from_vkey(log.vkey()), [verifier(w1), verifier(w2)]
    assert len(open_witnessed_checkpoint(note, logv, both, quorum=1).cosignatures) == 1
    with pytest.raises(QuorumError, match=r"cosigned by 1 of the 2 named witnesses \(witness.example/w1\); 2"):
        open_witnessed_checkpoint(note, logv, both)
    same_key = Cosigner("witness.example/alias", Ed25519PrivateKey.from_private_bytes(SEED))
    twice = cosign(checkpoint_note(log), w1, same_key)  # one key under two names counts once
    with pytest.raises(NoteError, match="cannot be met"):
        open_witnessed_checkpoint(twice, logv, [verifier(w1), verifier(same_key)], quorum=2)
    with pytest.raises(QuorumError):
        open_witnessed_checkpoint(twice, logv, [verifier(w1), verifier(same_key), verifier(w2)], quorum=2)


def test_tampering_is_refused(log: NoteSigner) -> None:
    w = witness()
    note = cosign(checkpoint_note(log), w)
    logv, wv = Verifier.from_vkey(log.vkey()), verifier(w)
    text, _, sigs = note.partition("\n\n")
    other_root = text.replace("CsUY", "DsUY")
    with pytest.raises(NoteError):  # the log's signature fails first
        open_witnessed_checkpoint(other_root + "\n\n" + sigs, logv, [wv])
    relogged = checkpoint_note(log, root=b"\x07" * 32)  # log-signed, but the cosignature is for another root
    cosig_line = sigs.split("\n")[1]
    with pytest.raises(NoteError, match="invalid cosignature by witness"):
        open_witnessed_checkpoint(relogged + cosig_line + "\n", logv, [wv])
    raw = bytearray(base64.b64decode(cosig_line.split(" ")[2]))
    raw[11] ^= 1  # another timestamp than the one signed
    bad_time = note.replace(cosig_line.split(" ")[2], base64.b64encode(bytes(raw)).decode())
    with pytest.raises(NoteError, match="invalid cosignature"):
        open_witnessed_checkpoint(bad_time, logv, [wv])


def test_wrong_key_ids_and_key_types_are_not_the_witness(log: NoteSigner) -> None:
    w = witness()
    note = checkpoint_note(log)
    text = note.partition("\n\n")[0] + "\n"
    logv = Verifier.from_vkey(log.vkey())
    # an ordinary Ed25519 (0x01) signature by the witness's key is not a cosignature: its key id differs
    plain = NoteSigner(w.name, Ed25519PrivateKey.from_private_bytes(SEED)).signature_line(text)
    with pytest.raises(QuorumError):
        open_witnessed_checkpoint(note + plain, logv, [verifier(w)])
    # a line with the witness's name but another key id is ignored, not counted
    raw = bytearray(base64.b64decode(w.signature_line(text, 5).split(" ")[2]))
    raw[0] ^= 0xFF
    with pytest.raises(QuorumError):
        open_witnessed_checkpoint(
            note + f"\u2014 {w.name} {base64.b64encode(bytes(raw)).decode()}\n", logv, [verifier(w)]
        )
    with pytest.raises(NoteError, match="type 0x04"):
        CosignatureVerifier.from_vkey(NoteSigner(w.name, Ed25519PrivateKey.generate()).vkey())  # a 0x01 vkey
    with pytest.raises(NoteError, match="does not match"):
        CosignatureVerifier.from_vkey(w.vkey().replace(f"+{w.key_id:08x}+", "+00000000+"))
    with pytest.raises(NoteError, match="malformed"):
        CosignatureVerifier.from_vkey("witness.example/w1+da77ade7")


def test_a_witness_with_the_log_key_is_refused(log: NoteSigner) -> None:
    itself = Cosigner("log-as-witness", Ed25519PrivateKey.from_private_bytes(b"\x01" * 32))
    note = cosign(checkpoint_note(log), itself)
    with pytest.raises(NoteError, match="log's own key"):
        open_witnessed_checkpoint(note, Verifier.from_vkey(log.vkey()), [verifier(itself)])


def test_cosignatures_keep_the_newest_line_per_key(log: NoteSigner) -> None:
    w = witness()
    note = checkpoint_note(log)
    twice = cosign(cosign(note, w, timestamp=10), w, timestamp=20)
    (found,) = cosignatures(twice, [verifier(w)])
    assert found.timestamp == 20


def test_a_witness_answer_yields_its_valid_lines_only(log: NoteSigner) -> None:
    w, other = witness(), witness("witness.example/other", b"\x03" * 32)
    text = checkpoint_note(log).partition("\n\n")[0] + "\n"
    answer = other.signature_line(text, 7) + w.signature_line(text, 8)
    (found,) = response_cosignatures(answer, text, verifier(w))
    assert (found.name, found.timestamp) == (w.name, 8)
    assert found.line + "\n" == w.signature_line(text, 8)
    with pytest.raises(NoteError):
        response_cosignatures("not a signature\n", text, verifier(w))
    with pytest.raises(NoteError, match="invalid cosignature"):
        response_cosignatures(w.signature_line("other\n1\n" + text.split("\n")[2] + "\n", 8), text, verifier(w))


@given(st.integers(min_value=0, max_value=(1 << 63) - 1))
def test_any_timestamp_round_trips(timestamp: int) -> None:
    w = witness()
    text = f"{ORIGIN}\n1\n{base64.b64encode(ROOT).decode()}\n"
    (found,) = response_cosignatures(w.signature_line(text, timestamp), text, verifier(w))
    assert found.timestamp == timestamp


def test_timestamps_beyond_int63_are_refused() -> None:
    with pytest.raises(NoteError):
        signed_message("a\n", 1 << 63)


# --- add-checkpoint bodies ------------------------------------------------------------------------


def test_the_request_body_is_old_size_proof_blank_line_note(log: NoteSigner) -> None:
    note = checkpoint_note(log)
    proof = [bytes([i]) * 32 for i in range(3)]
    body = format_add_checkpoint(20852014, proof, note)
    lines = body.decode().split("\n")
    assert lines[0] == "old 20852014"
    assert lines[1:4] == [base64.b64encode(h).decode() for h in proof]
    assert lines[4] == ""
    assert body.decode().endswith("\n\n" + note.partition("\n\n")[2])
    parsed = parse_add_checkpoint(body)
    assert (parsed.old_size, list(parsed.proof), parsed.note) == (20852014, proof, note)
    empty = parse_add_checkpoint(format_add_checkpoint(0, [], note))
    assert (empty.old_size, empty.proof, empty.note) == (0, (), note)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 5\n",  # no blank line, no note
        b"old 5\n\n",  # no note
        b"old 05\n\nx\n",  # leading zero
        b"old -1\n\nx\n",
        b"old 5 \n\nx\n",
        b"new 5\n\nx\n",
        b"old 99999999999999999999\n\nx\n",  # beyond int63
        b"old 5\nnot base64!\n\nx\n",
        b"old 5\n" + base64.b64encode(b"short") + b"\n\nx\n",  # not a 32-byte hash
        b"old 5\n" + b"".join(base64.b64encode(bytes(32)) + b"\n" for _ in range(MAX_PROOF_LINES + 1)) + b"\nx\n",
        b"old 5\n\n\xff\xfe\n",  # not UTF-8
    ],
)
def test_malformed_request_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(RequestError):
        parse_add_checkpoint(body)


def test_size_bodies() -> None:
    assert parse_size("20852014\n") == 20852014
    for bad in ["", "12", "012\n", "-1\n", "1 \n"]:
        with pytest.raises(RequestError):
            parse_size(bad)
