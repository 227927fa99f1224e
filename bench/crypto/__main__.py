"""Crypto benchmark: our AEAD against the bare library calls, chunked documents, key wrapping, Argon2id.

    .venv/bin/python -m bench.crypto [--quick] [--default-malloc] [--out results.json]

Everything is measured in one run, in one process, on random keys and data, and printed as a Markdown
report on stdout (progress on stderr). Each contender runs once per round, round-robin in alternating
order (:mod:`bench.crypto.timing`); figures are medians over the rounds, and every ratio is an
*overhead*: our time ÷ the direct call's time, the median over the rounds of that ratio within a round
(1.00 = no overhead). CPU use of the machine is split into this process and *foreign* load with
:class:`bench.log.measure.CpuMeter`. Results: docs/crypto.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import platform
import shlex
import statistics
import sys
import time
import uuid
from dataclasses import asdict
from importlib.metadata import version
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl import bindings

from bench.crypto.report import render
from bench.crypto.timing import Timing, interleaved, ratio
from bench.log.measure import CpuMeter
from vault.citizens.vault import CHUNK_BYTES, CHUNKS_PER_TRANSACTION, DEFAULT_MAX_DOCUMENT_BYTES, _chunk_field
from vault.crypto import aead, wrap
from vault.crypto.datakeys import DEK_BYTES
from vault.crypto.passwords import DEFAULT_POLICY, PasswordHasher

if TYPE_CHECKING:
    from collections.abc import Callable

VALUE_BYTES = 200
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
CPU_FLAGS = ("aes", "pclmulqdq", "avx2", "vaes", "vpclmulqdq", "avx512f", "sha_ni")


def progress(message: str) -> None:
    """Progress lines go to stderr so the report on stdout stays clean."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.crypto", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and operations (a smoke run)")
    parser.add_argument("--rounds", type=int, help="rounds per measurement (default 11, --quick 3)")
    parser.add_argument(
        "--ops", type=int, help="operations per round for 200-byte values (default 20000, --quick 2000)"
    )
    parser.add_argument("--doc-rounds", type=int, help="rounds for the 20 MiB document (default 31, --quick 3)")
    parser.add_argument("--argon2-samples", type=int, help="Argon2id hashes timed (default 9, --quick 3)")
    parser.add_argument(
        "--default-malloc", action="store_true", help="leave glibc's heap trimming on (see steady_heap; for comparison)"
    )
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 11)
    args.ops = args.ops or (2000 if args.quick else 20000)
    args.doc_rounds = args.doc_rounds or (3 if args.quick else 31)
    args.argon2_samples = args.argon2_samples or (3 if args.quick else 9)
    return args


def environment() -> dict[str, str]:
    cpu, flags = "?", set()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and cpu == "?":
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    load = "?"
    with contextlib.suppress(OSError), open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    packages = ", ".join(f"{p} {version(p)}" for p in ("cryptography", "PyNaCl", "argon2-cffi"))
    return {
        "CPUs": str(os.cpu_count()),
        "CPU model": cpu,
        "CPU flags (AES-GCM relevant)": " ".join(f for f in CPU_FLAGS if f in flags) or "none",
        "OS": platform.platform(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "Packages": packages,
        "OpenSSL (cryptography's)": openssl_backend.openssl_version_text(),
        "libsodium": f"bundled with PyNaCl {version('PyNaCl')}",
        "Load average at start (1/5/15 min)": load,
    }


def _cpu(meter: CpuMeter) -> dict[str, float]:
    use = meter.stop()
    return {"machine_cores": use.machine_cores, "bench_cores": use.self_cores, "foreign_cores": use.foreign_cores}


def _timing(t: Timing) -> dict[str, Any]:
    return {**asdict(t), "median_s": t.median_s, "per_s": t.per_s, "spread": t.spread}


def bench_values(args: argparse.Namespace) -> dict[str, Any]:
    """Seal and open one 200-byte attribute value: ours (both suites) against the bare library calls."""
    key, n = os.urandom(32), args.ops
    value = os.urandom(VALUE_BYTES)
    ctx = aead.Context(str(uuid.uuid4()), str(uuid.uuid4()), "address")
    aes = AESGCM(key)
    xc_encrypt = bindings.crypto_aead_xchacha20poly1305_ietf_encrypt
    xc_decrypt = bindings.crypto_aead_xchacha20poly1305_ietf_decrypt
    gcm, xc = aead.Suite.A256GCM, aead.Suite.XC20P
    urandom = os.urandom

    def loop(call: Any) -> Any:
        def run() -> None:
            for _ in repeat(None, n):
                call()

        return run

    seal = {
        "ours A256GCM": loop(lambda: aead.seal(key, value, ctx, key_version=1, suite=gcm)),
        "ours XC20P": loop(lambda: aead.seal(key, value, ctx, key_version=1, suite=xc)),
        "AESGCM object reused": loop(lambda: aes.encrypt(urandom(12), value, None)),
        "AESGCM(key) per call": loop(lambda: AESGCM(key).encrypt(urandom(12), value, None)),
        "nacl XChaCha20-Poly1305": loop(lambda: xc_encrypt(value, None, urandom(24), key)),
    }
    ours_gcm = aead.seal(key, value, ctx, key_version=1, suite=gcm)
    ours_xc = aead.seal(key, value, ctx, key_version=1, suite=xc)
    nonce12, nonce24 = urandom(12), urandom(24)
    direct_gcm = aes.encrypt(nonce12, value, None)
    direct_xc = xc_encrypt(value, None, nonce24, key)
    open_ = {
        "ours A256GCM": loop(lambda: aead.open(key, ours_gcm, ctx)),
        "ours XC20P": loop(lambda: aead.open(key, ours_xc, ctx)),
        "AESGCM object reused": loop(lambda: aes.decrypt(nonce12, direct_gcm, None)),
        "AESGCM(key) per call": loop(lambda: AESGCM(key).decrypt(nonce12, direct_gcm, None)),
        "nacl XChaCha20-Poly1305": loop(lambda: xc_decrypt(direct_xc, None, nonce24, key)),
    }
    parts = {
        "os.urandom(12)": loop(lambda: urandom(12)),
        "Context.encode()": loop(ctx.encode),
        "AESGCM(key)": loop(lambda: AESGCM(key)),
        "bare loop (no call)": loop(lambda: None),
    }
    meter = CpuMeter()
    meter.start()
    progress(f"200-byte values: seal, {args.rounds} rounds x {n:,} ops")
    seal_t = interleaved(seal, args.rounds, n)
    progress(f"200-byte values: open, {args.rounds} rounds x {n:,} ops")
    open_t = interleaved(open_, args.rounds, n)
    progress("200-byte values: parts of a seal")
    parts_t = interleaved(parts, args.rounds, n)
    cpu = _cpu(meter)
    rows = []
    for op, t in (("seal", seal_t), ("open", open_t)):
        for suite, baseline in (
            ("A256GCM", "AESGCM object reused"),
            ("A256GCM", "AESGCM(key) per call"),
            ("XC20P", "nacl XChaCha20-Poly1305"),
            ("XC20P", "AESGCM object reused"),
        ):
            ours = t[f"ours {suite}"]
            rows.append(
                {
                    "op": op,
                    "suite": suite,
                    "ours_per_s": ours.per_s,
                    "ours_us": 1e6 * ours.per_op_s,
                    "baseline": baseline,
                    "direct_per_s": t[baseline].per_s,
                    "direct_us": 1e6 * t[baseline].per_op_s,
                    "overhead": ratio(ours, t[baseline]),
                    "spread": max(ours.spread, t[baseline].spread),
                }
            )
    return {
        "value_bytes": VALUE_BYTES,
        "rows": rows,
        "parts_us": {name: 1e6 * t.per_op_s for name, t in parts_t.items()},
        "timings": {
            f"{op} {name}": _timing(t) for op, d in (("seal", seal_t), ("open", open_t)) for name, t in d.items()
        },
        "cpu": cpu,
    }


def steady_heap() -> str:
    """Keep freed memory in the heap (glibc ``mallopt``), so no round pays page faults for the previous one's frees.

    By default glibc returns the top of the heap to the kernel once more than 128 KiB is free there, and the
    next round faults every page back in - several ms per 20 MiB, more than AES-GCM itself costs, and it
    depends on what ran before (freeing one large mmapped block silently raises the thresholds). A warmed-up
    server keeps its heap, so the benchmark pins that state: trim threshold 1 GiB, mmap threshold 32 MiB.
    """
    try:
        libc = ctypes.CDLL(None)
        ok = libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 and libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1
    except (OSError, AttributeError):
        ok = False
    if not ok:
        return "allocator defaults (mallopt unavailable: not glibc?)"
    return "glibc mallopt M_TRIM_THRESHOLD = 1 GiB, M_MMAP_THRESHOLD = 32 MiB (freed memory stays in the heap)"


def _streaming_seal(pairs: list[tuple[bytes, str]], seal_one: Callable[[bytes, str], object]) -> Callable[[], None]:
    def run() -> None:
        pending = []
        for piece, field in pairs:
            pending.append(seal_one(piece, field))
            if len(pending) >= CHUNKS_PER_TRANSACTION:
                pending = []  # _store_chunks hands them to the database here

    return run


def _streaming_open(fields: list[str], open_one: Callable[[Any, str], object], sealed: list[Any]) -> Callable[[], None]:
    def run() -> None:
        for ct, field in zip(sealed, fields, strict=True):
            open_one(ct, field)  # _chunks yields the plaintext to the response here

    return run


def bench_documents(args: argparse.Namespace) -> dict[str, Any]:
    """A 20 MiB document in CHUNK_BYTES chunks, sealed and opened like CitizenVault does, against AESGCM directly.

    Every contender streams: seal keeps at most ``CHUNKS_PER_TRANSACTION`` ciphertexts (then drops them, where
    ``_store_chunks`` writes them to the database), open drops each plaintext (where ``_chunks`` yields it to the
    response). The whole-document call holds all 20 MiB, for information.
    """
    key = os.urandom(32)
    data = os.urandom(DEFAULT_MAX_DOCUMENT_BYTES)
    chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]
    fields = [_chunk_field(i, last=i == len(chunks) - 1) for i in range(len(chunks))]
    pairs = list(zip(chunks, fields, strict=True))
    citizen, doc = str(uuid.uuid4()), str(uuid.uuid4())
    aes, urandom, ctx = AESGCM(key), os.urandom, aead.Context
    xc_encrypt = bindings.crypto_aead_xchacha20poly1305_ietf_encrypt
    xc_decrypt = bindings.crypto_aead_xchacha20poly1305_ietf_decrypt
    xc = aead.Suite.XC20P

    def stream_seal(seal_one: Callable[[bytes, str], object]) -> Callable[[], None]:
        return _streaming_seal(pairs, seal_one)

    def stream_open(open_one: Callable[[Any, str], object], sealed: list[Any]) -> Callable[[], None]:
        return _streaming_open(fields, open_one, sealed)

    cipher = aead.Cipher(key)  # what CitizenVault does: one Cipher per document

    def ours_gcm(piece: bytes, field: str) -> bytes:
        return cipher.seal_large(piece, ctx(citizen, doc, field), key_version=1)

    def ours_xc(piece: bytes, field: str) -> bytes:
        return cipher.seal(piece, ctx(citizen, doc, field), key_version=1, suite=xc)

    def ours_open(ct: bytes, field: str) -> bytes:
        return cipher.open(ct, ctx(citizen, doc, field))

    sealed_gcm = [ours_gcm(p, f) for p, f in pairs]
    sealed_xc = [ours_xc(p, f) for p, f in pairs]
    direct = [(n, aes.encrypt(n, p, None)) for n, p in ((urandom(12), p) for p in chunks)]
    direct_xc = [(n, xc_encrypt(p, None, n, key)) for n, p in ((urandom(24), p) for p in chunks)]
    whole_nonce = urandom(12)
    whole = aes.encrypt(whole_nonce, data, None)
    assert b"".join(ours_open(ct, f) for ct, f in zip(sealed_gcm, fields, strict=True)) == data
    assert b"".join(ours_open(ct, f) for ct, f in zip(sealed_xc, fields, strict=True)) == data
    seal = {
        "ours A256GCM": stream_seal(ours_gcm),
        "AESGCM per chunk": stream_seal(lambda p, _f: aes.encrypt(urandom(12), p, None)),
        "AESGCM whole document": lambda: aes.encrypt(urandom(12), data, None),
        "ours XC20P": stream_seal(ours_xc),
        "nacl XChaCha20-Poly1305 per chunk": stream_seal(lambda p, _f: xc_encrypt(p, None, urandom(24), key)),
        "copy of each chunk": stream_seal(lambda p, _f: p + b"\0"),
    }
    open_ = {
        "ours A256GCM": stream_open(ours_open, sealed_gcm),
        "AESGCM per chunk": stream_open(lambda nc, _f: aes.decrypt(nc[0], nc[1], None), direct),
        "AESGCM whole document": lambda: aes.decrypt(whole_nonce, whole, None),
        "ours XC20P": stream_open(ours_open, sealed_xc),
        "nacl XChaCha20-Poly1305 per chunk": stream_open(
            lambda nc, _f: bytes(xc_decrypt(nc[1], None, nc[0], key)), direct_xc
        ),
    }
    meter = CpuMeter()
    meter.start()
    progress(f"documents: seal {len(data):,} bytes in {len(chunks)} chunks, {args.doc_rounds} rounds")
    seal_t = interleaved(seal, args.doc_rounds, 1)
    progress(f"documents: open, {args.doc_rounds} rounds")
    open_t = interleaved(open_, args.doc_rounds, 1)
    cpu = _cpu(meter)
    rows = []
    for op, t in (("seal", seal_t), ("open", open_t)):
        for mine, baseline in (
            ("ours A256GCM", "AESGCM per chunk"),
            ("ours A256GCM", "AESGCM whole document"),
            ("ours XC20P", "nacl XChaCha20-Poly1305 per chunk"),
            ("ours XC20P", "AESGCM per chunk"),
        ):
            rows.append(
                {
                    "op": op,
                    "suite": mine.removeprefix("ours "),
                    "ours_mb_s": len(data) / t[mine].median_s / 1e6,
                    "ours_ms": 1e3 * t[mine].median_s,
                    "baseline": baseline,
                    "direct_mb_s": len(data) / t[baseline].median_s / 1e6,
                    "direct_ms": 1e3 * t[baseline].median_s,
                    "overhead": ratio(t[mine], t[baseline]),
                    "spread": max(t[mine].spread, t[baseline].spread),
                }
            )
    return {
        "bytes": len(data),
        "chunks": len(chunks),
        "chunk_bytes": CHUNK_BYTES,
        "window": CHUNKS_PER_TRANSACTION,
        "rows": rows,
        "copy_ms": 1e3 * seal_t["copy of each chunk"].median_s,
        "timings": {
            f"{op} {name}": _timing(t) for op, d in (("seal", seal_t), ("open", open_t)) for name, t in d.items()
        },
        "cpu": cpu,
    }


def bench_wrap(args: argparse.Namespace) -> dict[str, Any]:
    """AES-256-KWP (RFC 5649) wrap and unwrap of a 32-byte DEK with vault.crypto.wrap."""
    kek, dek, n = os.urandom(32), os.urandom(DEK_BYTES), max(args.ops // 4, 500)
    wrapped = wrap.wrap(kek, dek)

    def wrap_loop() -> None:
        for _ in repeat(None, n):
            wrap.wrap(kek, dek)

    def unwrap_loop() -> None:
        for _ in repeat(None, n):
            wrap.unwrap(kek, wrapped)

    meter = CpuMeter()
    meter.start()
    progress(f"key wrap: {args.rounds} rounds x {n:,} ops")
    t = interleaved({"wrap": wrap_loop, "unwrap": unwrap_loop}, args.rounds, n)
    return {
        "wrapped_bytes": len(wrapped),
        "rows": [{"op": op, "per_s": t[op].per_s, "us": 1e6 * t[op].per_op_s, "spread": t[op].spread} for op in t],
        "cpu": _cpu(meter),
    }


def bench_argon2(args: argparse.Namespace) -> dict[str, Any]:
    """``PasswordHasher().hash`` at the default policy, one at a time (as a single login would see it)."""

    async def run() -> list[float]:
        hasher = PasswordHasher()
        await hasher.hash("warm-up password")
        out = []
        for i in range(args.argon2_samples):
            t0 = time.perf_counter()
            await hasher.hash(f"correct horse battery staple {i}")
            out.append(time.perf_counter() - t0)
        return out

    meter = CpuMeter()
    meter.start()
    progress(f"Argon2id: {args.argon2_samples} hashes")
    samples = asyncio.run(run())
    return {
        "policy": asdict(DEFAULT_POLICY),
        "samples_ms": [1e3 * s for s in samples],
        "median_ms": 1e3 * statistics.median(samples),
        "min_ms": 1e3 * min(samples),
        "max_ms": 1e3 * max(samples),
        "cpu": _cpu(meter),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    data: dict[str, Any] = {
        "command": shlex.join(sys.orig_argv),
        "quick": args.quick,
        "environment": environment(),
        "settings": {"rounds": args.rounds, "ops": args.ops, "doc_rounds": args.doc_rounds},
    }
    data["environment"]["Allocator"] = (
        "allocator defaults (--default-malloc): freed heap returned to the kernel, pages fault back in"
        if args.default_malloc
        else steady_heap()
    )
    data["values"] = bench_values(args)
    data["documents"] = bench_documents(args)
    data["wrap"] = bench_wrap(args)
    data["argon2"] = bench_argon2(args)
    data["environment"]["Total run time"] = f"{time.perf_counter() - started:.0f} s"
    report = render(data)
    print(report)
    if args.out is not None:
        args.out.write_text(json.dumps({**data, "report": report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
