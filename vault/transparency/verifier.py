"""Client-side log verification: what ``vault log verify`` and auditors run against a vault.

The checkpoint checks are :class:`tlog.client.LogStateTracker`'s (shared with ``vault audit monitor``,
the agency SDK and the benchmarks); this module fetches what they need over HTTP. Checks, in order:
the checkpoint's signature under the pinned key (trust on first use from
``/log/key`` unless a key is given); with named witnesses, that a quorum of them cosigned it (C2SP
tlog-cosignature; witness keys are never trusted on first use); no rollback or fork against the last
verified checkpoint (its size and root, kept in a state file) via a consistency proof; and, unless
skipped, that the leaves served hash to the signed root — locating the first bad index by binary
search over consistency proofs when they do not.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import msgspec

from tlog.client import (
    CosignatureInvalid,
    LogStateTracker,
    NotWitnessed,
    SignatureInvalid,
    TrackerError,
    TrustedState,
)
from tlog.cosignature import parse_verifiers
from tlog.merkle import MemoryTree, ProofError, leaf_hash, verify_consistency
from tlog.note import NoteError, Verifier

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from tlog.cosignature import WitnessedCheckpoint

PAGE = 1000


class VerifiedState(msgspec.Struct):
    """The last checkpoint a verifier accepted, and the key it trusts."""

    vkey: str
    origin: str
    size: int
    root: str
    checkpoint: str


@dataclass
class VerifyReport:
    """Outcome of one verification run."""

    ok: bool
    size: int = 0
    previous_size: int | None = None
    leaves_checked: int = 0
    problem: str | None = None
    first_bad_index: int | None = None
    unreachable: bool = False
    notes: list[str] = field(default_factory=list)
    witnessed_by: list[str] = field(default_factory=list)


class VerificationFailed(Exception):
    """The log failed a check; ``first_bad_index`` names the first wrong leaf where one is known."""

    def __init__(self, problem: str, first_bad_index: int | None = None, *, unreachable: bool = False) -> None:
        super().__init__(problem)
        self.problem = problem
        self.first_bad_index = first_bad_index
        self.unreachable = unreachable  # the log could not be asked (network, 5xx), not caught lying


def load_state(path: Path) -> VerifiedState | None:
    """Read the state file, or ``None`` if it does not exist yet."""
    if not path.exists():
        return None
    return msgspec.json.decode(path.read_bytes(), type=VerifiedState)


def save_state(path: Path, state: VerifiedState) -> None:
    """Write the state file atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(msgspec.json.encode(state))
    tmp.replace(path)


def verify_log(
    http: httpx.Client,
    state: VerifiedState | None,
    *,
    vkey: str | None = None,
    origin: str | None = None,
    check_leaves: bool = True,
    witnesses: Sequence[str] = (),
    quorum: int | None = None,
) -> tuple[VerifyReport, VerifiedState | None]:
    """Verify the log served at ``http``'s base URL; return the report and the state to keep.

    ``witnesses`` are the vkeys of witnesses of which ``quorum`` (default: all) must have cosigned
    the checkpoint; a checkpoint short of that quorum fails like a bad signature.
    """
    report = VerifyReport(ok=False, previous_size=state.size if state else None)
    try:
        new_state = _verify(http, state, vkey, origin, check_leaves, report, witnesses, quorum)
    except VerificationFailed as exc:
        report.problem, report.first_bad_index, report.unreachable = exc.problem, exc.first_bad_index, exc.unreachable
        return report, None
    report.ok = True
    return report, new_state


def _verify(
    http: httpx.Client,
    state: VerifiedState | None,
    vkey: str | None,
    origin: str | None,
    check_leaves: bool,
    report: VerifyReport,
    witnesses: Sequence[str] = (),
    quorum: int | None = None,
) -> VerifiedState:
    if vkey is None and state is not None:
        vkey = state.vkey
    if vkey is None:
        vkey = _get(http, "/log/key").text.strip()
        report.notes.append(f"trusting key {vkey} on first use")
    if state is not None and vkey != state.vkey:
        raise VerificationFailed("the key differs from the one pinned in the state file")
    origin = origin or (state.origin if state else vkey.split("+", 1)[0])
    note = _get(http, "/log/checkpoint").text
    tracker = _tracker(vkey, origin, witnesses, quorum)
    witnessed = _open(tracker, note)
    checkpoint = witnessed.checkpoint
    report.size = checkpoint.size
    report.witnessed_by = [c.name for c in witnessed.cosignatures]
    trusted = None if state is None else TrustedState(state.size, base64.b64decode(state.root), state.checkpoint)
    span = tracker.proof_span(trusted, checkpoint)
    try:
        tracker.advance(trusted, checkpoint, note, _consistency(http, *span) if span else [])
    except TrackerError as exc:
        raise VerificationFailed(str(exc)) from None
    if check_leaves:
        report.leaves_checked = _check_leaves(http, checkpoint.size, checkpoint.root)
    root_b64 = base64.b64encode(checkpoint.root).decode()
    return VerifiedState(vkey=vkey, origin=origin, size=checkpoint.size, root=root_b64, checkpoint=note)


def _tracker(vkey: str, origin: str, witnesses: Sequence[str], quorum: int | None) -> LogStateTracker:
    try:
        log = Verifier.from_vkey(vkey)
    except NoteError as exc:
        raise VerificationFailed(f"checkpoint rejected: {exc}") from None
    try:
        verifiers = parse_verifiers(witnesses)
    except NoteError as exc:
        raise VerificationFailed(f"bad witness key: {exc}") from None
    return LogStateTracker(log, origin=origin, witnesses=verifiers, quorum=quorum)


def _open(tracker: LogStateTracker, note: str) -> WitnessedCheckpoint:
    try:
        return tracker.open(note)
    except SignatureInvalid as exc:
        raise VerificationFailed(f"checkpoint rejected: {exc}") from None
    except NotWitnessed as exc:
        raise VerificationFailed(f"not witnessed: {exc}") from None
    except CosignatureInvalid as exc:
        raise VerificationFailed(f"cosignatures rejected: {exc}") from None


def _check_leaves(http: httpx.Client, size: int, root: bytes) -> int:
    leaves: list[bytes] = []
    start = 0
    while start < size:
        page = _get(http, "/log/leaves", start=start, end=min(size, start + PAGE)).json()["leaves"]
        if not page:
            break
        leaves += [base64.b64decode(x) for x in page]
        start += len(page)
        if len(page) < min(PAGE, size - (start - len(page))):
            break
    tree = MemoryTree(leaf_hash(c) for c in leaves)
    if len(leaves) == size and tree.root() == root:
        return size

    def prefix_ok(m: int) -> bool:
        if m > len(leaves):
            return False
        try:
            verify_consistency(m, size, tree.root(m), root, _consistency(http, m, size))
        except (ProofError, VerificationFailed):
            return False
        return True

    bad = _first_failure(1, size, prefix_ok) - 1
    if len(leaves) < size and bad >= len(leaves):
        raise VerificationFailed(f"{size - len(leaves)} leaves missing from index {len(leaves)}", len(leaves))
    missing = f" ({size - len(leaves)} leaves missing)" if len(leaves) < size else ""
    raise VerificationFailed(f"leaves do not match the signed root{missing}; first bad index {bad}", bad)


def _first_failure(lo: int, hi: int, ok: Callable[[int], bool]) -> int:
    """Smallest ``m`` in ``[lo, hi]`` with ``not ok(m)``, given ``ok`` is true then false."""
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _consistency(http: httpx.Client, first: int, second: int) -> list[bytes]:
    body = _get(http, "/log/proof/consistency", first=first, second=second).json()
    return [base64.b64decode(x) for x in body["consistency"]]


def _get(http: httpx.Client, path: str, **params: int) -> httpx.Response:
    try:
        response = http.get(path, params=params)
    except httpx.HTTPError as exc:
        raise VerificationFailed(f"cannot fetch {path}: {exc}", unreachable=True) from None
    if response.status_code != 200:
        problem = f"{path} answered {response.status_code}: {response.text[:200]}"
        raise VerificationFailed(problem, unreachable=response.status_code >= 500)
    return response
