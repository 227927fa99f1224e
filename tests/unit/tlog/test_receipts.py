"""tlog-proof parsing: the index line is ASCII decimal only."""

from __future__ import annotations

import pytest

from tlog.receipts import ReceiptError, format_tlog_proof, parse_tlog_proof

COMMITMENT = bytes(range(32))
CHECKPOINT = "example.com/log\n2\nAAAA\n\n\u2014 example.com/log sig\n"


def _proof(index: str) -> str:
    return format_tlog_proof(COMMITMENT, 0, [bytes(32)], CHECKPOINT).replace("index 0\n", f"index {index}\n")


def test_an_ascii_index_parses() -> None:
    assert parse_tlog_proof(_proof("1")) == (COMMITMENT, 1, [bytes(32)], CHECKPOINT)
    assert parse_tlog_proof(_proof("0"))[1] == 0


@pytest.mark.parametrize(
    "index",
    [
        "\u0661",  # ARABIC-INDIC DIGIT ONE: str.isdigit() is True and int() reads it as 1
        "\u0967\u0968",  # DEVANAGARI ONE TWO
        "\uff11",  # FULLWIDTH DIGIT ONE
        "\u00b9",  # SUPERSCRIPT ONE: isdigit() but not int()-able
        "1\u0660",
        "01",
        "-1",
        "",
        "1" * 21,
    ],
)
def test_an_index_that_is_not_plain_ascii_decimal_is_refused(index: str) -> None:
    with pytest.raises(ReceiptError, match="index"):
        parse_tlog_proof(_proof(index))
