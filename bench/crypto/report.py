"""Render the crypto benchmark results (a JSON-ready dict) as a Markdown report."""

from __future__ import annotations

from typing import Any

from bench.log.report import _f, _table

DOCUMENT_OVERHEAD_GOAL = 1.3


def _cpu(cpu: dict[str, float]) -> str:
    return f"{cpu['machine_cores']:.2f} / {cpu['bench_cores']:.2f} / {cpu['foreign_cores']:.2f}"


def render(data: dict[str, Any]) -> str:
    """The whole report."""
    s = data["settings"]
    lines = ["# Crypto benchmark", "", f"Command: `{data['command']}`", ""]
    lines += _table(["", ""], [[k, v] for k, v in data["environment"].items()])
    lines += [
        "",
        f"Method: each contender runs once per round, round-robin in alternating order, {s['rounds']} rounds "
        f"({s['doc_rounds']} for the document); figures are medians, `time.perf_counter`, garbage collector off "
        "inside a timed call. **overhead = our time ÷ direct time** (1.00 = none), the median over the rounds of "
        "that ratio within each round, so load that changes between rounds cancels out. *spread* = "
        "(slowest - fastest round) ÷ median of the noisier of the two. CPU in cores, machine / this benchmark / "
        "*foreign* (everything else on the machine, measured with `bench.log.measure.CpuMeter`); foreign load "
        "competes for the same cores and makes the figures noisier.",
        "",
        *_values(data["values"], s["ops"]),
        "",
        *_documents(data["documents"]),
        "",
        *_wrap(data["wrap"]),
        "",
        *_argon2(data["argon2"]),
        "",
        *_verdict(data["documents"]),
    ]
    return "\n".join(lines) + "\n"


def _values(v: dict[str, Any], ops: int) -> list[str]:
    lines = [
        f"## 1. Attribute values ({v['value_bytes']}-byte plaintext)",
        "",
        f'`aead.seal` / `aead.open` with `Context(<uuid>, <uuid>, "address")`, key version 1, {ops:,} calls per '
        "round, against the bare library call on the same plaintext with a fresh random nonce and no associated "
        "data. CPU machine/bench/foreign: " + _cpu(v["cpu"]) + ".",
        "",
    ]
    rows = [
        [
            r["op"],
            r["suite"],
            _f(r["ours_per_s"]),
            _f(r["ours_us"], 2),
            r["baseline"],
            _f(r["direct_per_s"]),
            _f(r["direct_us"], 2),
            f"{r['overhead']:.2f}x",
            f"{100 * r['spread']:.0f} %",
        ]
        for r in v["rows"]
    ]
    lines += _table(
        ["op", "suite", "ours /s", "ours µs", "direct baseline", "direct /s", "direct µs", "overhead", "spread"], rows
    )
    parts = ", ".join(f"{name} {us:.2f} µs" for name, us in v["parts_us"].items())
    lines += [
        "",
        f"Parts of a seal, per call: {parts}.",
    ]
    return lines


def _documents(d: dict[str, Any]) -> list[str]:
    lines = [
        f"## 2. Documents ({d['bytes']:,} bytes = {d['bytes'] / 2**20:.0f} MiB, {d['chunks']} chunks of "
        f"{d['chunk_bytes'] // 1024} KiB)",
        "",
        "*ours*: one `aead.Cipher` per document; per chunk `Cipher.seal_large` (A256GCM) or `Cipher.seal` (XC20P) "
        'and `Cipher.open` with a fresh `Context(citizen, document, "chunk:N")` '
        '(`"chunk:N:final"` for the last), as `CitizenVault._store_chunks` and `_chunks` do; database work '
        f"excluded. Every per-chunk contender streams like the vault: seal keeps at most {d['window']} ciphertexts "
        "(one database transaction's worth) and drops them, open drops each plaintext. *per chunk*: the bare call "
        "on the same chunks, fresh nonce, no associated data. *whole document*: one `AESGCM.encrypt`/`decrypt` "
        "over all bytes, for information. MB = 10^6 bytes. "
        "CPU machine/bench/foreign: " + _cpu(d["cpu"]) + ".",
        "",
    ]
    rows = [
        [
            r["op"],
            r["suite"],
            _f(r["ours_mb_s"]),
            _f(r["ours_ms"], 1),
            r["baseline"],
            _f(r["direct_mb_s"]),
            _f(r["direct_ms"], 1),
            f"{r['overhead']:.2f}x",
            f"{100 * r['spread']:.0f} %",
        ]
        for r in d["rows"]
    ]
    lines += _table(
        ["op", "suite", "ours MB/s", "ours ms", "direct baseline", "direct MB/s", "direct ms", "overhead", "spread"],
        rows,
    )
    return [
        *lines,
        "",
        f'For scale: one plain copy of every chunk (`piece + b"\\0"`) costs {d["copy_ms"]:.1f} ms per document. '
        "`Cipher.seal_large` encrypts into a buffer that already holds header and nonce, and `Cipher.open` reads "
        "through `memoryview` slices, so neither copies a chunk.",
    ]


def _wrap(w: dict[str, Any]) -> list[str]:
    lines = [
        "## 3. Key wrapping (AES-256-KWP, RFC 5649)",
        "",
        f"`vault.crypto.wrap.wrap` / `unwrap` of a 32-byte DEK under a 32-byte KEK ({w['wrapped_bytes']} bytes "
        "wrapped). CPU machine/bench/foreign: " + _cpu(w["cpu"]) + ".",
        "",
    ]
    rows = [[r["op"], _f(r["per_s"]), _f(r["us"], 2), f"{100 * r['spread']:.0f} %"] for r in w["rows"]]
    return lines + _table(["op", "per second", "µs", "spread"], rows)


def _argon2(a: dict[str, Any]) -> list[str]:
    p = a["policy"]
    samples = ", ".join(f"{ms:.0f}" for ms in a["samples_ms"])
    return [
        "## 4. Password hashing (Argon2id, default policy)",
        "",
        f"`await PasswordHasher().hash(...)`, one at a time: m = {p['memory_cost']:,} KiB, t = {p['time_cost']}, "
        f"p = {p['parallelism']}, {p['hash_len']}-byte tag, {p['salt_len']}-byte salt. Median "
        f"**{a['median_ms']:.0f} ms** (min {a['min_ms']:.0f}, max {a['max_ms']:.0f}; samples {samples} ms). "
        "CPU machine/bench/foreign: " + _cpu(a["cpu"]) + ".",
    ]


def _verdict(d: dict[str, Any]) -> list[str]:
    chunked = [r for r in d["rows"] if r["suite"] == "A256GCM" and r["baseline"] == "AESGCM per chunk"]
    worst = max(r["overhead"] for r in chunked)
    ok = worst <= DOCUMENT_OVERHEAD_GOAL
    detail = ", ".join(f"{r['op']} {r['overhead']:.2f}x" for r in chunked)
    return [
        "## Verdict",
        "",
        f"Document overhead (A256GCM, ours ÷ AESGCM on the same chunks): {detail}; goal ≤ "
        f"{DOCUMENT_OVERHEAD_GOAL}x — **{'met' if ok else 'not met'}**.",
    ]
