"""``BatchProcessor`` alone (no Kafka), this tree against a baseline ref, in one run.

Prints, for each side (the baseline, default ``main``, and this tree; this tree also with
per-event ``ScoreResult`` records off and with cheaper snapshot modes):

- events/s on per-event JSON records and on Arrow IPC batch records (1,000 rows per record),
  at batch sizes 1,000 / 5,000 / 30,000 events, with the window state carried from batch to
  batch in a dict, as a worker does;
- the per-batch fixed cost: ms per batch of 1, 10, 100 and 1,000 JSON records;
- where a 30,000-event batch's time goes: parse, featurise, score, encode (``ScoreResult`` and
  ``ScoreBatch`` records), snapshot (feature snapshots), other;
- bytes out per event (scores, score batches, snapshots, state rows);
- with ``--profile``, the top frames of this tree's processor under py-spy.

The baseline is ``git archive <ref>`` unpacked into a temporary directory; each side runs in its
own child process with its tree first on ``sys.path`` (the two cannot share one interpreter),
the sides alternate ``--rounds`` times and the best figure of each is kept, so a busy machine
hurts both alike. Workloads are seeded; every child warms up (JIT, model trace) first.

Run: ``.venv/bin/python tests/benchmarks/bench_processor.py [--models DIR] [--baseline-ref main]``.
Without ``--models`` it trains small models (``streamscore simulate`` + ``train``) in a
temporary state directory first (about a minute); ``--models`` reuses such a state directory.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import inspect
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

USERS = 5000
PARTITIONS = 6
TYPES = ["login", "view", "like", "message", "session_end", "purchase"]
THROUGHPUT_SIZES = (1000, 5000, 30_000)
FIXED_SIZES = {1: 300, 10: 200, 100: 60, 1000: 12}  # batch size -> batches timed
ARROW_ROWS = 1000  # rows per Arrow IPC record (a bulk producer's batch)


# --- child: one side, measured in its own interpreter -------------------------------------------


def _events(n: int, seed: int) -> list[dict]:
    import numpy as np

    rng = np.random.default_rng(seed)
    ts = 1_780_000_000_000 + np.cumsum(rng.integers(1, 20, n))
    users = rng.integers(0, USERS, n)
    kinds = rng.integers(0, len(TYPES), n)
    amounts = np.round(rng.gamma(2.0, 10.0, n), 2)
    out = []
    for i in range(n):
        e = {
            "event_id": f"e{seed}-{i}",
            "user_id": f"u{users[i]:05d}",
            "ts": int(ts[i]),
            "type": TYPES[kinds[i]],
        }
        if kinds[i] == 5:
            e["properties"] = {"plan": ("free", "pro")[i % 2], "amount": float(amounts[i])}
        out.append(e)
    return out


def _partition(user: str) -> int:
    return int(user[1:]) % PARTITIONS


class _Side:
    """One tree's processor, the workloads, and the measurements."""

    def __init__(self, models_dir: str, options: dict) -> None:
        import numpy as np
        import orjson

        from streams.pipeline import processor as proc_mod
        from streams.pipeline.scoring import load_model_set
        from streams.settings import load_settings

        self.np = np
        self.proc_mod = proc_mod
        settings = load_settings(env={}, state_dir=Path(models_dir))
        self.models = load_model_set(settings)
        self.models.warm_up()
        accepted = inspect.signature(proc_mod.BatchProcessor).parameters
        unknown = set(options) - set(accepted)
        if unknown:
            raise SystemExit(f"this tree's BatchProcessor has no option(s) {sorted(unknown)}")
        self.options = options
        self._dumps = orjson.dumps

    def processor(self):  # noqa: ANN201
        """A processor as the worker builds it for the activity topic (format auto-detected)."""
        return self.proc_mod.BatchProcessor(self.models, **self.options)

    # workloads ---------------------------------------------------------------------------------

    def json_batches(self, n: int, size: int, seed: int) -> list:
        from streams.pipeline.records import SourceRecords

        np = self.np
        events = _events(n, seed)
        batches, offsets = [], collections.Counter()
        for start in range(0, n, size):
            chunk = sorted(events[start : start + size], key=lambda e: _partition(e["user_id"]))
            parts = np.array([_partition(e["user_id"]) for e in chunk], np.int32)
            offs = []
            for p in parts.tolist():
                offs.append(offsets[p])
                offsets[p] += 1
            batches.append(
                SourceRecords(
                    "activity",
                    parts,
                    np.array(offs, np.int64),
                    [e["user_id"].encode() for e in chunk],
                    [self._dumps(e) for e in chunk],
                    np.full(len(chunk), 1_780_000_000_000, np.int64),
                )
            )
        return batches

    def arrow_batches(self, n: int, size: int, seed: int) -> list:
        import pyarrow as pa

        from streams.pipeline.records import SourceRecords

        np = self.np
        schema = pa.schema(
            [("event_id", pa.string()), ("user_id", pa.string()), ("ts", pa.int64()),
             ("type", pa.string()), ("properties", pa.string())]
        )  # fmt: skip
        events = _events(n, seed)
        # A bulk producer splits its rows by partition: each record holds one partition's rows.
        by_part: dict[int, list] = collections.defaultdict(list)
        for e in events:
            by_part[_partition(e["user_id"])].append(e)
        payloads = []  # (partition, bytes, rows)
        for p, rows in sorted(by_part.items()):
            for start in range(0, len(rows), ARROW_ROWS):
                cut = rows[start : start + ARROW_ROWS]
                cols = {
                    "event_id": [e["event_id"] for e in cut],
                    "user_id": [e["user_id"] for e in cut],
                    "ts": [e["ts"] for e in cut],
                    "type": [e["type"] for e in cut],
                    "properties": [
                        self._dumps(e["properties"]).decode() if "properties" in e else None
                        for e in cut
                    ],
                }
                sink = io.BytesIO()
                with pa.ipc.new_stream(sink, schema) as writer:
                    writer.write_table(pa.table(cols, schema=schema))
                payloads.append((p, sink.getvalue(), len(cut)))
        per_batch = max(1, size // ARROW_ROWS)
        # Interleave partitions so a batch of several records spans partitions, as consume() does.
        queues = [[t for t in payloads if t[0] == p] for p in range(PARTITIONS)]
        payloads = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)]
        batches, offsets = [], collections.Counter()
        for start in range(0, len(payloads), per_batch):
            chunk = sorted(payloads[start : start + per_batch], key=lambda t: t[0])
            offs = []
            for p, _, _ in chunk:
                offs.append(offsets[p])
                offsets[p] += 1
            batches.append(
                SourceRecords(
                    "activity",
                    np.array([p for p, _, _ in chunk], np.int32),
                    np.array(offs, np.int64),
                    [None] * len(chunk),
                    [v for _, v, _ in chunk],
                    np.full(len(chunk), 1_780_000_000_000, np.int64),
                )
            )
        return batches

    # measurements ------------------------------------------------------------------------------

    def run(self, proc, batches: list, state: dict) -> tuple[float, int, dict]:  # noqa: ANN001
        """Process ``batches`` in order; seconds, events and bytes out per output kind."""
        sizes = collections.Counter()
        events = 0
        started = time.perf_counter()
        for records in batches:
            out = proc.process(records, state)
            state.update(out.state_rows)
            events += out.events
            for part in out.partitions.values():
                sizes["scores"] += sum(len(v) for _, v in part.scores)
                sizes["score_batches"] += sum(map(len, part.score_batches))
                sizes["snapshots"] += sum(map(len, part.features))
                sizes["state"] += sum(map(len, part.state_rows.values()))
        return time.perf_counter() - started, events, dict(sizes)

    def throughput(self, fmt: str, size: int, n: int) -> dict:
        make = self.json_batches if fmt == "json" else self.arrow_batches
        proc = self.processor()
        warm = make(min(n, 2 * size), size, seed=99)
        self.run(proc, warm, {})
        batches = make(n, size, seed=7)
        state: dict = {}
        seconds, events, sizes = self.run(proc, batches, state)
        return {"rate": events / seconds, "events": events,
                "bytes_per_event": {k: v / events for k, v in sizes.items()}}  # fmt: skip

    def fixed_cost(self) -> dict:
        np = self.np
        proc = self.processor()
        out = {}
        for size, count in FIXED_SIZES.items():
            batches = self.json_batches(size * (count + 5), size, seed=size)
            state: dict = {}
            self.run(proc, batches[:5], state)  # warm
            times = []
            for records in batches[5:]:
                t0 = time.perf_counter()
                res = proc.process(records, state)
                times.append(time.perf_counter() - t0)
                state.update(res.state_rows)
            out[str(size)] = 1000 * float(np.median(times))
        return out

    def stages(self, fmt: str, size: int) -> dict:
        """Share of a batch's time per stage (30k events); snapshot and encode split by
        timing the functions the processor calls (wrapped only in this measurement)."""
        spent = collections.Counter()
        mod = self.proc_mod
        wrapped = {}

        def timed(label, fn):  # noqa: ANN001, ANN202
            def wrapper(*a, **k):  # noqa: ANN002, ANN003, ANN202
                t0 = time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    spent[label] += time.perf_counter() - t0

            return wrapper

        for name in dir(mod):
            if name.startswith("encode_score") or name.startswith("_encode_score"):
                wrapped[name] = getattr(mod, name)
                setattr(mod, name, timed("encode", wrapped[name]))
        snapshot = self.models.snapshot
        self.models.snapshot = timed("snapshot", snapshot)
        try:
            make = self.json_batches if fmt == "json" else self.arrow_batches
            proc = self.processor()
            self.run(proc, make(size, size, seed=98), {})
            spent.clear()
            stage = collections.Counter()
            state: dict = {}
            total = 0.0
            for records in make(3 * size, size, seed=5):
                t0 = time.perf_counter()
                res = proc.process(records, state)
                total += time.perf_counter() - t0
                state.update(res.state_rows)
                stage.update(res.stats.stage_seconds)
        finally:
            for name, fn in wrapped.items():
                setattr(mod, name, fn)
            self.models.snapshot = snapshot
        out = {k: stage[k] for k in ("parse", "featurise", "score")}
        out["encode"] = spent["encode"]
        out["snapshot"] = spent["snapshot"]
        out["other"] = max(total - sum(out.values()), 0.0)
        return {k: v / total for k, v in out.items()} | {"ms_per_batch": 1000 * total / 3}


def profile(side: _Side, out: Path, events: int) -> None:
    """py-spy attached to this process while it scores 30k-event JSON and Arrow batches."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy (in the venv: pip install py-spy)")
    work = [
        (side.processor(), side.json_batches(events, 30_000, seed=3)),
        (side.processor(), side.arrow_batches(events, 30_000, seed=4)),
    ]
    for proc, batches in work:
        side.run(proc, batches[:1], {})
    cmd = [spy, "record", "-r", "250", "-f", "raw", "-o", str(out), "-p", str(os.getpid())]
    recorder = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches
    for _ in range(3):
        for proc, batches in work:
            side.run(proc, batches, {})
    recorder.send_signal(signal.SIGINT)
    recorder.wait(60)


def child(args: argparse.Namespace) -> None:
    sys.path.insert(0, args.repo)
    os.chdir(args.repo)
    side = _Side(args.models, json.loads(args.options))
    if args.profile is not None:
        profile(side, args.profile, args.events)
        print("RESULT {}", flush=True)
        return
    result: dict = {"json": {}, "arrow": {}}
    for size in THROUGHPUT_SIZES:
        n = max(args.events, 2 * size)
        result["json"][str(size)] = side.throughput("json", size, n)
        result["arrow"][str(size)] = side.throughput("arrow", size, max(n, 4 * size))
    if not args.throughput_only:
        result["fixed_ms"] = side.fixed_cost()
        result["stages"] = {
            "json": side.stages("json", 30_000),
            "arrow": side.stages("arrow", 30_000),
        }
    print("RESULT " + json.dumps(result), flush=True)


# --- parent: sides side by side ------------------------------------------------------------------


def train(state_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSCORE_")}
    cli = [sys.executable, "-m", "streams.cli", "--state-dir", str(state_dir)]
    for step in (["simulate", "--users", "1200", "--days", "35", "--seed", "0"],
                 ["train", "--task", "all", "--kind", "mlp", "--epochs", "4"]):  # fmt: skip
        done = subprocess.run([*cli, *step], cwd=REPO, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{step[0]} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def baseline_tree(ref: str, into: Path) -> Path:
    """``ref`` of this repository unpacked into ``into`` (git archive: no worktree metadata)."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", ref], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def run_side(repo: Path, models: Path, options: dict, args: argparse.Namespace,
             profile: Path | None = None, throughput_only: bool = False) -> dict:  # fmt: skip
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--repo", str(repo),
           "--models", str(models), "--options", json.dumps(options),
           "--events", str(args.events)]  # fmt: skip
    if throughput_only:
        cmd.append("--throughput-only")
    if profile is not None:
        cmd += ["--profile", str(profile)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSCORE_")}
    env["PYTHONPATH"] = str(repo)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise SystemExit(f"side {repo} failed ({done.returncode}):\n{done.stdout[-3000:]}"
                     f"{done.stderr[-4000:]}")  # fmt: skip


def best(runs: list[dict]) -> dict:
    """Per figure, the best over rounds: highest rate, lowest ms; stages of the fastest round."""
    out = runs[0]
    for r in runs[1:]:
        for fmt in ("json", "arrow"):
            for size, v in r[fmt].items():
                if v["rate"] > out[fmt][size]["rate"]:
                    out[fmt][size] = v
        for size, ms in r.get("fixed_ms", {}).items():
            out["fixed_ms"][size] = min(out["fixed_ms"][size], ms)
        for fmt, st in r.get("stages", {}).items():
            if st["ms_per_batch"] < out["stages"][fmt]["ms_per_batch"]:
                out["stages"][fmt] = st
    return out


def top_frames(profile: Path, k: int = 25) -> list[str]:
    """Self time per function (leaf frame), and inclusive time of our own functions."""
    total, leaf, incl = 0, collections.Counter(), collections.Counter()
    for line in profile.read_text().splitlines():
        stack, n = line.rsplit(" ", 1)
        frames = stack.split(";")
        total += int(n)
        leaf[frames[-1]] += int(n)
        for f in set(frames):
            if any(s in f for s in ("streams/", "schemas/", "kernels/", "models/")):
                incl[f] += int(n)
    lines = ["self time (leaf frames):"]
    lines += [f"  {n / total:6.1%}  {f[:120]}" for f, n in leaf.most_common(k)]
    lines += ["inclusive, our code:"]
    lines += [f"  {n / total:6.1%}  {f[:120]}" for f, n in incl.most_common(k)]
    return lines


def report(sides: dict[str, dict]) -> None:
    names = list(sides)
    base = sides[names[0]]
    width = max(len(n) for n in names) + 2

    def row(label: str, values: list[float], fmt: str, ratio_of: float | None) -> str:
        cells = "".join(f"{format(v, fmt):>14}" for v in values)
        return f"{label:<34}{cells}"

    print(f"\n{'':<34}" + "".join(f"{n:>14}" for n in names))
    for fmt in ("json", "arrow"):
        for size in base[fmt]:
            vals = [s[fmt][size]["rate"] for s in sides.values()]
            print(row(f"{fmt} events/s, batch {int(size):,}", vals, ",.0f", None)
                  + "   x" + " x".join(f"{v / vals[0]:.2f}" for v in vals[1:]))  # fmt: skip
    for size in base["fixed_ms"]:
        vals = [s["fixed_ms"][size] for s in sides.values() if "fixed_ms" in s]
        print(row(f"ms per batch of {size} JSON records", vals, ".3f", None)
              + "   x" + " x".join(f"{vals[0] / v:.2f}" for v in vals[1:]))  # fmt: skip
    for fmt in ("json", "arrow"):
        staged = [s for s in sides.values() if "stages" in s]
        vals = [s["stages"][fmt]["ms_per_batch"] for s in staged]
        print(row(f"{fmt} ms per 30k batch", vals, ".1f", None))
        for stage in ("parse", "featurise", "score", "encode", "snapshot", "other"):
            vals = [100 * s["stages"][fmt][stage] for s in staged]
            print(row(f"  {stage} %", vals, ".1f", None))
    print(f"\nbytes per event out (JSON, batch {THROUGHPUT_SIZES[-1]:,}):")
    for name, s in sides.items():
        b = s["json"][str(THROUGHPUT_SIZES[-1])]["bytes_per_event"]
        print(f"  {name:<{width}}" + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(b.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, help="a state dir with trained models (reused)")
    parser.add_argument("--baseline-ref", default="main", help="git ref to compare with")
    parser.add_argument("--events", type=int, default=60_000, help="events per throughput run")
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternations of the sides (0: only --profile)"
    )
    parser.add_argument("--profile", type=Path, help="also py-spy this tree; raw output here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repo", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--throughput-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="bench-processor-") as tmp:
        models = args.models
        if models is None:
            models = Path(tmp) / "state"
            print("training small models (simulate + train)...", flush=True)
            train(models)
        base = baseline_tree(args.baseline_ref, Path(tmp) / "baseline")
        contenders = {
            args.baseline_ref: (base, {}, False),
            "this": (REPO, {}, False),
            "results off": (REPO, {"score_results": False}, False),
            "snap sample": (REPO, {"score_results": False, "snapshots": "sample:0.1"}, True),
            "snap none": (REPO, {"score_results": False, "snapshots": "none"}, True),
        }
        runs: dict[str, list] = collections.defaultdict(list)
        for round_ in range(args.rounds):
            for name, (repo, options, quick) in contenders.items():
                print(f"round {round_ + 1}/{args.rounds}: {name}...", flush=True)
                runs[name].append(run_side(repo, models, options, args, throughput_only=quick))
        if runs:
            report({name: best(r) for name, r in runs.items()})
        if args.profile is not None:
            print(f"\nprofile of this tree (py-spy, raw stacks in {args.profile}):")
            with contextlib.suppress(FileNotFoundError):
                args.profile.unlink()
            run_side(REPO, models, {"score_results": False}, args, profile=args.profile)
            print("\n".join(top_frames(args.profile)))


if __name__ == "__main__":
    main()
