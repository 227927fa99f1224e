"""What must hold after a load run, checked against the vault's public log and the citizens' own API.

- every read a client received is in the log (its receipt's commitment is a leaf);
- every checkpoint a client saw is signed by the log's key and consistent with the newest one;
- every acknowledged attribute write is what the vault holds (or, after an unanswered write,
  one of the values it may hold).
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import TYPE_CHECKING

from tlog.client import LogStateTracker, SignatureInvalid, TrackerError
from tlog.note import Verifier

if TYPE_CHECKING:
    import httpx

    from bench.load.workload import Client, Ledger

LEAVES_PAGE = 1000


async def settled_size(http: httpx.AsyncClient, within_s: float = 60) -> int:
    """The checkpoint size once the integrator has caught up (two equal sizes 1.5 s apart)."""
    deadline, last = time.monotonic() + within_s, -1
    while time.monotonic() < deadline:
        text = (await http.get("/log/checkpoint")).text
        size = int(text.split("\n")[1]) if text.count("\n") > 3 else 0
        if size == last:
            return size
        last = size
        await asyncio.sleep(1.5)
    raise AssertionError(f"the log did not settle within {within_s} s (last size {last})")


async def leaves(http: httpx.AsyncClient, size: int) -> set[str]:
    """Every leaf commitment (base64) of the tree of ``size``."""
    out: set[str] = set()
    for start in range(0, size, LEAVES_PAGE):
        answer = await http.get("/log/leaves", params={"start": start, "end": min(start + LEAVES_PAGE, size)})
        answer.raise_for_status()
        out.update(answer.json()["leaves"])
    return out


async def check_reads_logged(http: httpx.AsyncClient, ledger: Ledger) -> list[str]:
    """Problems: received reads whose commitment is not in the log."""
    size = await settled_size(http)
    logged = await leaves(http, size)
    missing = [c for c in ledger.read_commitments if c not in logged]
    return [f"{len(missing)} of {len(ledger.read_commitments)} received reads are not in the log"] if missing else []


async def check_checkpoints(http: httpx.AsyncClient, ledger: Ledger) -> list[str]:
    """Problems: checkpoints that are badly signed or not consistent with the newest."""
    vkey = (await http.get("/log/key")).text.strip()
    tracker = LogStateTracker(Verifier.from_vkey(vkey), origin=vkey.split("+", 1)[0])
    note = (await http.get("/log/checkpoint")).text
    latest = tracker.advance(None, tracker.open(note).checkpoint, note, [])
    problems = []
    for seen_note in ledger.checkpoints:
        try:
            seen = tracker.open(seen_note).checkpoint
        except SignatureInvalid as exc:
            problems.append(f"a checkpoint a client saw does not verify: {exc}")
            continue
        if seen.size > latest.size:
            problems.append(f"a client saw size {seen.size}, the log now says {latest.size} (rollback)")
            continue
        answer = await http.get("/log/proof/consistency", params={"first": seen.size, "second": latest.size})
        proof = [base64.b64decode(h) for h in answer.json()["consistency"]]
        try:
            tracker.check_prefix(latest, seen, proof)
        except TrackerError as exc:
            problems.append(str(exc))
    return problems


async def check_writes(clients: list[Client], ledger: Ledger) -> list[str]:
    """Problems: attributes whose stored value is not what the clients were told (or may have been)."""
    problems = []
    for client in clients:
        if client.session_uncertain:  # its last sign-in went unanswered: sign in again first
            await client.step_signin()
        answer = await client.citizen.request("GET", "/api/v1/me/attributes")
        if answer.status_code != 200:
            problems.append(f"{client.citizen.name}: attributes answered {answer.status_code}")
            continue
        stored = {name: item["value"] for name, item in answer.json()["attributes"].items()}
        for (citizen, name), possible in ledger.attributes.items():
            if citizen == client.citizen.name and stored.get(name) not in possible:
                problems.append(f"{citizen} {name}: stored {stored.get(name)!r}, acknowledged {sorted(possible)}")
    return problems


async def check_all(http: httpx.AsyncClient, clients: list[Client], ledger: Ledger) -> list[str]:
    """Every check; the list of problems (empty when all hold), the clients' own findings first."""
    return [
        *ledger.problems,
        *await check_reads_logged(http, ledger),
        *await check_checkpoints(http, ledger),
        *await check_writes(clients, ledger),
    ]
