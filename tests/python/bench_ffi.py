"""The cost of one FFI call round trip from Python (BENCHMARKS.md, "FFI"):
not a test, no threshold; it prints what it measured.

    KAKSIK_BINDINGS=target/bindings/debug python3 tests/python/bench_ffi.py

Two calls on a registered account home: ``core_version()``, a synchronous
call that returns a short string (the crossing alone), and ``status()``,
which reads the account record through the Python FileStore (a foreign
callback) and returns it with its certificates as a record.
"""

import asyncio
import statistics
import time

from harness import MARI, KaksikServer, Phone

import kaksik  # after harness, which puts the generated module on the path

BATCHES = 21


def median_micros(calls_per_batch, call):
    """Median over BATCHES batches of the time per call, in microseconds."""
    for _ in range(calls_per_batch):
        call()
    per_call = []
    for _ in range(BATCHES):
        start = time.perf_counter_ns()
        for _ in range(calls_per_batch):
            call()
        per_call.append((time.perf_counter_ns() - start) / 1000 / calls_per_batch)
    return statistics.median(per_call)


def main():
    server = KaksikServer()
    try:
        phone = Phone(server, server.temp_dir("bench"))
        asyncio.run(phone.register(MARI))
        version = median_micros(20_000, kaksik.core_version)
        status = median_micros(2_000, phone.authenticator.status)
        print(f"python core_version(): {version:.2f} µs per call (median of {BATCHES} batches)")
        print(f"python status():       {status:.2f} µs per call (median of {BATCHES} batches)")
    finally:
        server.close()


if __name__ == "__main__":
    main()
