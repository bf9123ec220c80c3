"""The webhook against `durable`, in alternating pairs: the ratio targets with the machine's noise measured.

    .venv/bin/python bench/pairs.py [--pairs 5] [--duration 10] [--accounts 1000]

On this kind of machine (a shared VM) the same row measured twice in a row moved by up to 25-50%
(docs/benchmarks.md), more than the differences bench/run.py's single table is asked to judge. This
runs the same server, database and rows as bench/run.py (its code), but as `--pairs` pairs per
concurrency (8 and 32): `durable` then `webhook`, each after the same reset, back to back. Each pair
gives one ratio of req/s and one of p99; the verdict is on the median pair, and the spread says how far
a single table can be trusted. Refuses to start on a loaded machine, like bench/run.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import run  # noqa: E402

CONCURRENCIES = (8, 32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", run.DEFAULT_POSTGRES_URL))
    args = parser.parse_args()
    if (load := os.getloadavg()[0]) >= run.QUIET_LOAD:
        raise SystemExit(f"Refusing to measure: the 1-minute load average is {load:.2f} (>= {run.QUIET_LOAD}).")
    workdir = Path(tempfile.mkdtemp(prefix="monolink-pairs-"))
    bench = run.Bench(args, workdir)
    config = run.Config(f"PostgreSQL {args.accounts:,}", "postgresql", args.postgres_url, args.accounts)
    rows = {r.key: r for r in run.make_rows(args.accounts, immediate=False) if r.key in ("durable", "webhook")}
    config.rows = list(rows.values())
    ratios: dict[int, list[tuple[float, float]]] = {c: [] for c in CONCURRENCIES}
    started, loads = time.monotonic(), [load]
    try:
        bench.prepare(config)
        server = run.Server(bench.env(config), workdir, "pairs")
        bench.servers.append(server)
        for pair in range(1, args.pairs + 1):
            for concurrency in CONCURRENCIES:
                result = {}
                for key in ("durable", "webhook"):
                    bench.reset(config)
                    bench.precheck(server, rows[key])
                    loads.append(os.getloadavg()[0])
                    result[key] = bench.wrk(server, rows[key], concurrency, f"pair{pair}")
                rps = result["webhook"].rps / result["durable"].rps
                p99 = result["webhook"].p99_ms / result["durable"].p99_ms
                ratios[concurrency].append((rps, p99))
                print(
                    f"pair {pair} c={concurrency:<2}  durable {result['durable'].rps:6.0f} req/s p99 "
                    f"{result['durable'].p99_ms:6.1f} ms   webhook {result['webhook'].rps:6.0f} req/s p99 "
                    f"{result['webhook'].p99_ms:6.1f} ms   webhook/durable {rps:.2f}x, p99 {p99:.2f}x",
                    flush=True,
                )
    finally:
        bench.close()

    print(
        f"\n{args.pairs} pairs per concurrency, {config.name}, {args.duration} s per run, "
        f"{time.monotonic() - started:.0f} s in all"
    )
    print(
        f"1-minute load average: {loads[0]:.2f} at the start (quiet); up to {max(loads):.2f} from the runs themselves"
    )
    for concurrency, pairs in ratios.items():
        rps = sorted(r for r, _ in pairs)
        p99 = sorted(p for _, p in pairs)
        rps_median, p99_median = statistics.median(rps), statistics.median(p99)
        print(
            f"c={concurrency:<2}  webhook/durable req/s: median {rps_median:.2f}x (pairs {rps[0]:.2f}-{rps[-1]:.2f}x)"
            f"  {'PASS' if rps_median >= 0.6 else 'MISS'} (>= 0.6x, aim 0.8x)"
        )
        if concurrency == 32:
            print(
                f"c=32  webhook p99 / durable p99: median {p99_median:.2f}x (pairs {p99[0]:.2f}-{p99[-1]:.2f}x)"
                f"  {'PASS' if p99_median <= 1.5 else 'MISS'} (<= 1.5x)"
            )
    print(f"logs in {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
