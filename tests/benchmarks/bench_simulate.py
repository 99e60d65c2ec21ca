"""Simulator throughput: events per minute drawn, and payloads per second serialised.

    .venv/bin/python tests/benchmarks/bench_simulate.py [--users 10000] [--days 42]

Seeded; one process. Target (issue 4): >= 1M events per minute. The payload rate is the JSON /
raw-line serialisation a Kafka producer would send (no broker involved).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models.simulate import SimConfig, iter_payload_batches, simulate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=42)
    args = ap.parse_args()
    simulate(SimConfig(n_users=50, days=14, decision_min_day=7))  # warm caches and imports
    t = time.perf_counter()
    sim = simulate(SimConfig(n_users=args.users, days=args.days, seed=1))
    took = time.perf_counter() - t
    n = sim.events.num_rows
    print(
        f"simulate: {n:,} events + {sim.labels.num_rows:,} labels for {args.users:,} users x "
        f"{args.days} days in {took:.2f}s = {n / took * 60 / 1e6:.1f}M events/min "
        f"({n / took * 60 / 1e6:.0f}x the 1M/min target)"
    )
    t = time.perf_counter()
    sent = sum(len(b.payloads) for b in iter_payload_batches(sim, 10_000))
    took = time.perf_counter() - t
    print(f"payloads: {sent:,} in {took:.2f}s = {sent / took:,.0f} payloads/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
