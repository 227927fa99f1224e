from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from tlog.note import MAX_NOTE_SIZE, MAX_SIGNATURES, Checkpoint, NoteError, Verifier, open_checkpoint, open_note
from vault.crypto.signers import NoteSigner, add_signature, sign_checkpoint

VECTORS_PATH = Path(__file__).resolve().parents[2] / "testdata" / "signed-note.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
ROOT = bytes(range(32))


def make_signer(name: str = "example.com/log") -> NoteSigner:
    return NoteSigner(name, Ed25519PrivateKey.generate())


def verifier_of(signer: NoteSigner) -> Verifier:
    return Verifier.from_vkey(signer.vkey())


def sig_line(name: str, raw: bytes) -> str:
    return f"\u2014 {name} {base64.b64encode(raw).decode()}\n"


# --- reference vectors -----------------------------------------------------------------------------


def test_example_vector_verifies() -> None:
    vec = VECTORS["example"]
    verifier = Verifier.from_vkey(vec["vkey"])
    assert verifier.name == "example.com/foo"
    assert verifier.key_id == 0x530D903A
    opened = open_note(vec["note"], [verifier])
    assert opened.text == "This is an example message.\n"
    assert opened.signatures == [("example.com/foo", 0x530D903A)]
    assert open_note(vec["note"].encode("utf-8"), [verifier]) == opened


def test_golden_sign_vector_is_deterministic() -> None:
    vec = VECTORS["golden_sign"]
    signer = NoteSigner.from_skey(vec["skey"])
    assert signer.name == "PeterNeumann"
    assert signer.key_id == 0xC74F20A3
    note = signer.sign(vec["text"])
    assert note == vec["text"] + "\n" + vec["signature_line"]
    assert note.endswith(vec["signature_line"])
    opened = open_note(note, [Verifier.from_vkey(signer.vkey())])
    assert opened.text == vec["text"]
    assert opened.signatures == [("PeterNeumann", 0xC74F20A3)]


def test_vkey_round_trips() -> None:
    vkey = VECTORS["example"]["vkey"]
    verifier = Verifier.from_vkey(vkey)
    rebuilt = Verifier(verifier.name, Ed25519PublicKey.from_public_bytes(verifier.public_bytes))
    assert rebuilt.key_id == verifier.key_id
    signer = make_signer()
    assert Verifier.from_vkey(signer.vkey()).key_id == signer.key_id
    assert signer.vkey().startswith(f"example.com/log+{signer.key_id:08x}+")


def test_checkpoint_example_parses_and_round_trips() -> None:
    body = VECTORS["checkpoint_body_example"]
    cp = Checkpoint.parse(body)
    assert cp.origin == "go.sum database tree"
    assert cp.size == 123456789012
    assert len(cp.root) == 32
    assert cp.extensions == ()
    assert cp.body() == body
    assert Checkpoint.parse(cp.body()) == cp


# --- signing and opening ---------------------------------------------------------------------------


def test_unknown_key_only_fails() -> None:
    note = make_signer().sign("hello\n")
    with pytest.raises(NoteError, match="no valid signature"):
        open_note(note, [verifier_of(make_signer("other.example"))])
    with pytest.raises(NoteError, match="no valid signature"):
        open_note(note, [])


def test_same_name_different_key_is_ignored_as_unknown() -> None:
    note = make_signer().sign("hello\n")
    with pytest.raises(NoteError, match="no valid signature"):
        open_note(note, [verifier_of(make_signer())])


def test_unknown_signatures_are_ignored_when_a_known_one_verifies() -> None:
    log, witness = make_signer(), make_signer("witness.example")
    note = add_signature(witness.sign("hello\n"), log)
    opened = open_note(note, [verifier_of(log)])
    assert opened.signatures == [(log.name, log.key_id)]


def test_flipped_signature_bit_fails() -> None:
    signer = make_signer()
    text = "hello\n"
    line = signer.sign(text).removeprefix(text + "\n")
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[10] ^= 0x01
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(text + "\n" + sig_line(signer.name, bytes(raw)), [verifier_of(signer)])


def test_tampered_text_fails() -> None:
    signer = make_signer()
    note = signer.sign("hello\n").replace("hello", "jello")
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(note, [verifier_of(signer)])


def test_bad_known_signature_fails_even_with_a_good_one() -> None:
    log, other = make_signer(), make_signer("other.example")
    note = log.sign("hello\n")
    forged = sig_line(other.name, other.key_id.to_bytes(4, "big") + bytes(64))
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(note + forged, [verifier_of(log), verifier_of(other)])


def test_short_signature_by_known_key_fails() -> None:
    signer = make_signer()
    note = "hello\n\n" + sig_line(signer.name, signer.key_id.to_bytes(4, "big") + b"x")
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(note, [verifier_of(signer)])


def test_wrong_key_id_is_unknown() -> None:
    signer = make_signer()
    text = "hello\n"
    line = signer.sign(text).removeprefix(text + "\n")
    raw = base64.b64decode(line.split(" ")[2])
    wrong = ((signer.key_id + 1) % 2**32).to_bytes(4, "big") + raw[4:]
    with pytest.raises(NoteError, match="no valid signature"):
        open_note(text + "\n" + sig_line(signer.name, wrong), [verifier_of(signer)])


def test_wrong_key_id_in_vkey_and_skey() -> None:
    vkey = VECTORS["example"]["vkey"]
    with pytest.raises(NoteError, match="does not match"):
        Verifier.from_vkey(vkey.replace("+530d903a+", "+530d903b+"))
    skey = VECTORS["golden_sign"]["skey"]
    with pytest.raises(NoteError, match="does not match"):
        NoteSigner.from_skey(skey.replace("+c74f20a3+", "+c74f20a4+"))


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "example.com/foo",
        "example.com/foo+530d903a",
        "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+0x30903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k=",
        "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2kAA==",
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "a b+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "a+b+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ],
)
def test_malformed_vkey(vkey: str) -> None:
    with pytest.raises(NoteError):
        Verifier.from_vkey(vkey)


@pytest.mark.parametrize(
    "skey",
    [
        "PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "PRIVATE+KEY+PeterNeumann+c74f20a3",
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDF",
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AoEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    ],
)
def test_malformed_skey(skey: str) -> None:
    with pytest.raises(NoteError):
        NoteSigner.from_skey(skey)


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\u00a0b", "a\tb", "a\nb", "a\u2003b"])
def test_invalid_key_names(name: str) -> None:
    with pytest.raises(NoteError, match="invalid key name"):
        NoteSigner(name, Ed25519PrivateKey.generate())
    with pytest.raises(NoteError, match="invalid key name"):
        Verifier(name, Ed25519PrivateKey.generate().public_key())


@pytest.mark.parametrize("bad", ["\r", "\t", "\x00", "\x1b", "\x0b"])
def test_control_characters_rejected(bad: str) -> None:
    signer = make_signer()
    with pytest.raises(NoteError, match="control character"):
        signer.sign(f"hello{bad}world\n")
    note = signer.sign("hello world\n").replace(" ", bad, 1)
    with pytest.raises(NoteError, match="control character"):
        open_note(note, [verifier_of(signer)])


def test_crlf_note_rejected() -> None:
    signer = make_signer()
    note = signer.sign("hello\n").replace("\n", "\r\n")
    with pytest.raises(NoteError, match="control character"):
        open_note(note, [verifier_of(signer)])


def test_text_must_end_with_newline() -> None:
    with pytest.raises(NoteError, match="end with a newline"):
        make_signer().sign("hello")
    with pytest.raises(NoteError, match="end with a newline"):
        make_signer().sign("")


def test_non_utf8_rejected() -> None:
    signer = make_signer()
    note = signer.sign("hello\n").encode("utf-8")
    with pytest.raises(NoteError, match="UTF-8"):
        open_note(b"\xff" + note, [verifier_of(signer)])
    with pytest.raises(NoteError, match="UTF-8"):
        open_note(note.replace(b"hello", b"h\xed\xa0\x80o"), [verifier_of(signer)])
    with pytest.raises(NoteError, match="UTF-8"):
        open_note("\ud800" + note.decode(), [verifier_of(signer)])
    with pytest.raises(NoteError, match="UTF-8"):
        signer.sign("\ud800\n")


def test_missing_signature_lines() -> None:
    signer = make_signer()
    verifiers = [verifier_of(signer)]
    for note in ["hello\n", "hello\n\n", "hello\n\n\n", "", "hello"]:
        with pytest.raises(NoteError):
            open_note(note, verifiers)


def test_missing_blank_line_separator() -> None:
    signer = make_signer()
    note = signer.sign("hello\n").replace("\n\n", "\n")
    with pytest.raises(NoteError, match="blank line"):
        open_note(note, [verifier_of(signer)])


def test_last_line_must_end_with_newline() -> None:
    signer = make_signer()
    note = signer.sign("hello\n")
    with pytest.raises(NoteError, match="newline"):
        open_note(note[:-1], [verifier_of(signer)])


@pytest.mark.parametrize(
    "mangle",
    [
        lambda line: line.replace("\u2014 ", "- "),
        lambda line: line.replace("\u2014 ", "\u2014"),
        lambda line: line.replace(" ", "  ", 1),
        lambda line: line.replace("=\n", "\n"),
        lambda line: line.replace("=\n", "!\n"),
        lambda line: line.replace("=\n", "= \n"),
        lambda line: line.rsplit(" ", 1)[0] + "\n",
        lambda line: line.rsplit(" ", 1)[0] + " \n",
        lambda line: line.rsplit(" ", 1)[0] + " AAAAAA==\n",
        lambda line: line + "\n",
        lambda line: line + "trailing\n",
    ],
)
def test_malformed_signature_lines(mangle: Any) -> None:
    vec = VECTORS["example"]
    text = "This is an example message.\n"
    line = vec["note"].removeprefix(text + "\n")
    with pytest.raises(NoteError):
        open_note(text + "\n" + mangle(line), [Verifier.from_vkey(vec["vkey"])])


def test_non_canonical_base64_rejected() -> None:
    vec = VECTORS["example"]
    # The last base64 character "M" carries two unused bits; "N" sets one of them.
    note = vec["note"].replace("QM=\n", "QN=\n")
    with pytest.raises(NoteError, match="canonical"):
        open_note(note, [Verifier.from_vkey(vec["vkey"])])


def test_too_many_signatures() -> None:
    signer = make_signer()
    note = signer.sign("hello\n")
    filler = "".join(sig_line(f"w{i}.example", bytes(68)) for i in range(MAX_SIGNATURES - 1))
    assert open_note(note + filler, [verifier_of(signer)]).signatures == [(signer.name, signer.key_id)]
    with pytest.raises(NoteError, match="more than"):
        open_note(note + filler + sig_line("extra.example", bytes(68)), [verifier_of(signer)])
    with pytest.raises(NoteError, match="already has"):
        add_signature(note + filler, make_signer("extra.example"))


def test_oversized_note() -> None:
    signer = make_signer()
    with pytest.raises(NoteError, match="exceeds"):
        signer.sign("a" * MAX_NOTE_SIZE + "\n")
    note = "a" * MAX_NOTE_SIZE + "\n\n" + signer.sign("a\n").splitlines(keepends=True)[-1]
    with pytest.raises(NoteError, match="exceeds"):
        open_note(note, [verifier_of(signer)])
    with pytest.raises(NoteError, match="exceeds"):
        open_note(note.encode(), [verifier_of(signer)])
    with pytest.raises(NoteError, match="exceeds"):
        open_note("\u00e9" * (MAX_NOTE_SIZE // 2 + 1) + "\n\n", [verifier_of(signer)])


def test_ambiguous_verifiers_rejected() -> None:
    signer = make_signer()
    good = verifier_of(signer)
    clash = Verifier(signer.name, Ed25519PrivateKey.generate().public_key())
    clash.key_id = good.key_id
    with pytest.raises(NoteError, match="ambiguous"):
        open_note(signer.sign("hello\n"), [good, clash])
    assert open_note(signer.sign("hello\n"), [good, verifier_of(signer)]).signatures == [(signer.name, signer.key_id)]


def test_add_signature_cosigns_and_replaces() -> None:
    log, witness = make_signer(), make_signer("witness.example")
    note = log.sign("hello\n\nworld\n")
    cosigned = add_signature(note, witness)
    assert cosigned.startswith(note)
    opened = open_note(cosigned, [verifier_of(log), verifier_of(witness)])
    assert opened.text == "hello\n\nworld\n"
    assert opened.signatures == [(log.name, log.key_id), (witness.name, witness.key_id)]
    again = add_signature(cosigned, witness)
    assert again == cosigned
    assert add_signature(cosigned, log).count(log.name) == 1


def test_add_signature_rejects_malformed_notes() -> None:
    with pytest.raises(NoteError):
        add_signature("hello\n", make_signer())


def test_duplicate_signatures_are_listed_once() -> None:
    signer = make_signer()
    note = signer.sign("hello\n")
    line = note.removeprefix("hello\n\n")
    assert open_note(note + line, [verifier_of(signer)]).signatures == [(signer.name, signer.key_id)]


def test_verify_rejects_other_text() -> None:
    signer = make_signer()
    verifier = verifier_of(signer)
    sig = base64.b64decode(signer.sign("a\n").split(" ")[-1])[4:]
    assert verifier.verify(b"a\n", sig)
    assert not verifier.verify(b"b\n", sig)
    assert not verifier.verify(b"a\n", sig[:-1])


note_texts = st.text(
    alphabet=st.one_of(st.characters(min_codepoint=0x20, codec="utf-8"), st.just("\n")),
    max_size=200,
).map(lambda s: s + "\n")


@settings(max_examples=60, deadline=None)
@given(text=note_texts, name=st.from_regex(r"[a-z0-9./_-]{1,30}", fullmatch=True))
def test_sign_open_round_trip(text: str, name: str) -> None:
    signer = NoteSigner(name, Ed25519PrivateKey.generate())
    witness = make_signer("witness.example")
    note = signer.sign(text)
    opened = open_note(note, [verifier_of(signer)])
    assert opened.text == text
    assert opened.signatures == [(name, signer.key_id)]
    cosigned = open_note(add_signature(note, witness), [verifier_of(witness)])
    assert cosigned.text == text


# --- checkpoints -----------------------------------------------------------------------------------


def test_checkpoint_sign_and_open() -> None:
    signer = make_signer()
    cp = Checkpoint(signer.name, 42, ROOT, ("ext one", "ext-two"))
    note = sign_checkpoint(cp, signer)
    assert note.startswith(f"{signer.name}\n42\n{base64.b64encode(ROOT).decode()}\next one\next-two\n\n\u2014 ")
    assert open_checkpoint(note, verifier_of(signer)) == cp
    assert open_checkpoint(note.encode(), verifier_of(signer), origin=signer.name) == cp


def test_checkpoint_wrong_origin() -> None:
    signer = make_signer()
    note = sign_checkpoint(Checkpoint(signer.name, 1, ROOT), signer)
    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(note, verifier_of(signer), origin="example.com/other")


def test_checkpoint_wrong_verifier() -> None:
    note = sign_checkpoint(Checkpoint("example.com/log", 1, ROOT), make_signer())
    with pytest.raises(NoteError, match="no valid signature"):
        open_checkpoint(note, verifier_of(make_signer()))


def test_checkpoint_signed_non_checkpoint_text() -> None:
    signer = make_signer()
    with pytest.raises(NoteError, match="origin, size and root"):
        open_checkpoint(signer.sign("hello\n"), verifier_of(signer))


def test_checkpoint_size_limits() -> None:
    root = base64.b64encode(ROOT).decode()
    assert Checkpoint.parse(f"o\n0\n{root}\n").size == 0
    assert Checkpoint.parse(f"o\n{2**64 - 1}\n{root}\n").size == 2**64 - 1
    with pytest.raises(NoteError, match="uint64"):
        Checkpoint.parse(f"o\n{2**64}\n{root}\n")


@pytest.mark.parametrize(
    "size", ["-1", "01", "00", "abc", "", " 1", "1 ", "+1", "1_000", "1.0", "\u0661", "0x10", "9" * 5000]
)
def test_checkpoint_bad_size(size: str) -> None:
    root = base64.b64encode(ROOT).decode()
    with pytest.raises(NoteError):
        Checkpoint.parse(f"origin\n{size}\n{root}\n")


@pytest.mark.parametrize("root_len", [0, 31, 33, 64])
def test_checkpoint_bad_root_length(root_len: int) -> None:
    root = base64.b64encode(bytes(root_len)).decode()
    with pytest.raises(NoteError, match="32 bytes"):
        Checkpoint.parse(f"origin\n1\n{root}\n")
    with pytest.raises(NoteError, match="32 bytes"):
        Checkpoint("origin", 1, bytes(root_len))


@pytest.mark.parametrize(
    "body",
    [
        "\n1\n{root}\n",
        "origin\n1\n{root}",
        "origin\n1\n",
        "origin\n1\n{root}\n\n",
        "origin\n1\n{root}\next\n\n",
        "origin\n1\n{root}x\n",
        "origin\n1\nnot base64!\n",
        "origin\r\n1\n{root}\n",
        "",
        "\n",
    ],
)
def test_checkpoint_malformed_body(body: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(body.format(root=base64.b64encode(ROOT).decode()))


@pytest.mark.parametrize(
    ("origin", "size", "extensions"),
    [
        ("", 1, ()),
        ("a\nb", 1, ()),
        ("o", -1, ()),
        ("o", 2**64, ()),
        ("o", True, ()),
        ("o", 1, ("",)),
        ("o", 1, ("a\nb",)),
    ],
)
def test_checkpoint_constructor_validates(origin: str, size: int, extensions: tuple[str, ...]) -> None:
    with pytest.raises(NoteError):
        Checkpoint(origin, size, ROOT, extensions)
