"""``BatchProcessor`` alone (no Kafka), this tree against a baseline ref, in one run.

Prints, for each side (the baseline, default ``main``, and this tree: with its defaults, with
per-event ``ScoreResult`` records off, and with those off and cheaper snapshot modes):

- events/s on per-event JSON records and on Arrow IPC batch records (1,000 rows per record),
  at batch sizes 1,000 / 5,000 / 30,000 events, with the window state carried from batch to
  batch in a dict, as a worker does; records are auto-detected as the worker's are;
- the per-batch fixed cost: ms per batch of 1, 10, 100 and 1,000 JSON records;
- where a 30,000-event batch's time goes: parse, featurise, score, encode (``ScoreResult`` and
  ``ScoreBatch`` records), snapshot (feature snapshots), other;
- bytes out per event (scores, score batches, snapshots, state rows);
- with ``--profile``, the top frames of this tree's processor under py-spy.

The baseline is ``git archive <ref>`` unpacked into a temporary directory. Each side is a child
process with its tree first on ``sys.path`` (two trees cannot share one interpreter) that stays
up for the whole run; the parent asks the sides for one measurement after the other, side by
side, ``--rounds`` times, and keeps each side's best, so load from other jobs on the machine
falls on all sides alike. Rates are given per wall second and per CPU second of the process
(the second is steadier on a busy machine). Workloads are seeded; each child warms up (JIT,
model trace) before it measures.

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
        from streams.scoring import load_model_set
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
        self._workloads: dict = {}
        self.sizes: dict = {}
        self.cpu = 0.0

    def processor(self):
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

    def run(self, proc, batches: list, state: dict) -> tuple[float, int, dict]:
        """Process ``batches`` in order; seconds, events and bytes out per output kind."""
        sizes = collections.Counter()
        events = 0
        started, cpu = time.perf_counter(), time.process_time()
        for records in batches:
            out = proc.process(records, state)
            state.update(out.state_rows)
            events += out.events
            for part in out.partitions.values():
                sizes["scores"] += sum(len(v) for _, v in part.scores)
                sizes["score_batches"] += sum(map(len, part.score_batches))
                sizes["snapshots"] += sum(map(len, part.features))
                sizes["state"] += sum(map(len, part.state_rows.values()))
        self.sizes = dict(sizes)
        self.cpu = time.process_time() - cpu
        return time.perf_counter() - started, events, dict(sizes)

    def workload(self, fmt: str, n: int, size: int, seed: int) -> list:
        key = (fmt, n, size, seed)
        if key not in self._workloads:
            make = self.json_batches if fmt == "json" else self.arrow_batches
            self._workloads[key] = make(n, size, seed)
        return self._workloads[key]

    def throughput(self, fmt: str, size: int, n: int) -> dict:
        proc = self.processor()
        self.run(proc, self.workload(fmt, min(n, 2 * size), size, 99), {})  # warm
        seconds, events, sizes = self.run(proc, self.workload(fmt, n, size, 7), {})
        return {"rate": events / seconds, "cpu_rate": events / self.cpu,
                "bytes_per_event": {k: v / events for k, v in sizes.items()}}  # fmt: skip

    def fixed_cost(self, size: int) -> dict:
        """Median wall and CPU ms per batch of ``size`` JSON records, state carried along."""
        np = self.np
        proc = self.processor()
        count = FIXED_SIZES[size]
        batches = self.workload("json", size * (count + 5), size, size)
        state: dict = {}
        self.run(proc, batches[:5], state)  # warm
        wall, cpu = [], []
        for records in batches[5:]:
            t0, c0 = time.perf_counter(), time.process_time()
            res = proc.process(records, state)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            state.update(res.state_rows)
        return {"ms": 1000 * float(np.median(wall)), "cpu_ms": 1000 * float(np.mean(cpu))}

    def stages(self, fmt: str, size: int) -> dict:
        """Share of a batch's time per stage (30k events); snapshot and encode split by
        timing the functions the processor calls (wrapped only in this measurement)."""
        spent = collections.Counter()
        mod = self.proc_mod
        wrapped = {}

        def timed(label, fn):
            def wrapper(*a, **k):
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
            proc = self.processor()
            self.run(proc, self.workload(fmt, size, size, 98), {})
            spent.clear()
            stage = collections.Counter()
            state: dict = {}
            total = 0.0
            for records in self.workload(fmt, 3 * size, size, 5):
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
    """Serve measurements: one JSON request per stdin line, one ``RESULT`` line per answer."""
    sys.path.insert(0, args.repo)
    os.chdir(args.repo)
    side = _Side(args.models, json.loads(args.options))
    if args.profile is not None:
        profile(side, args.profile, args.events)
        print("RESULT {}", flush=True)
        return
    side.throughput("json", 1000, 2000)  # warm: JIT, model trace, first-call costs
    side.throughput("arrow", 1000, 2000)
    print("READY", flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req["what"] == "throughput":
            n = max(args.events, 2 * req["size"])
            answer = side.throughput(req["fmt"], req["size"], n)
        elif req["what"] == "fixed":
            answer = side.fixed_cost(req["size"])
        else:
            answer = side.stages(req["fmt"], 30_000)
        print("RESULT " + json.dumps(answer), flush=True)


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


class SideProcess:
    """One side's child process, kept up for the whole run."""

    def __init__(self, name: str, repo: Path, models: Path, options: dict, events: int,
                 log: Path) -> None:  # fmt: skip
        self.name = name
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--repo", str(repo),
               "--models", str(models), "--options", json.dumps(options),
               "--events", str(events)]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSCORE_")}
        env["PYTHONPATH"] = str(repo)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        self.log = log
        self.proc = subprocess.Popen(
            cmd, cwd=repo, env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(log, "w"),  # noqa: SIM115 - closed with the process
        )  # fmt: skip
        self._expect("READY")

    def _expect(self, prefix: str) -> str:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        raise SystemExit(f"side {self.name} died:\n{self.log.read_text()[-4000:]}")

    def ask(self, **request: object) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return json.loads(self._expect("RESULT "))

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(60)


def profile_side(repo: Path, models: Path, options: dict, events: int, out: Path) -> None:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--repo", str(repo),
           "--models", str(models), "--options", json.dumps(options), "--events", str(events),
           "--profile", str(out)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSCORE_")}
    env["PYTHONPATH"] = str(repo)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"profiling failed:\n{done.stderr[-4000:]}")


def measure(sides: list[SideProcess], rounds: int, quick: set[str]) -> dict[str, dict]:
    """Every measurement from every side, side by side, ``rounds`` times; each side's best."""
    requests = [{"what": "throughput", "fmt": f, "size": n}
                for f in ("json", "arrow") for n in THROUGHPUT_SIZES]  # fmt: skip
    requests += [{"what": "fixed", "size": n} for n in FIXED_SIZES]
    requests += [{"what": "stages", "fmt": f} for f in ("json", "arrow")]
    best: dict[str, dict] = {s.name: {} for s in sides}
    for round_ in range(rounds):
        for req in requests:
            key = "/".join(str(v) for v in req.values())
            print(f"round {round_ + 1}/{rounds}: {key}", flush=True)
            for side in sides:
                if side.name in quick and req["what"] != "throughput":
                    continue
                got = side.ask(**req)
                old = best[side.name].get(key)
                if old is None:
                    best[side.name][key] = got
                elif req["what"] == "throughput":
                    for k in ("rate", "cpu_rate"):
                        old[k] = max(old[k], got[k])
                elif req["what"] == "fixed":
                    for k in ("ms", "cpu_ms"):
                        old[k] = min(old[k], got[k])
                elif got["ms_per_batch"] < old["ms_per_batch"]:
                    best[side.name][key] = got
    return best


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
    print(f"\n{'':<36}" + "".join(f"{n:>13}" for n in names) + "   ratios to " + names[0])

    def line(label: str, vals: list, fmt: str, higher_better: bool = True) -> None:
        cells = "".join(f"{format(v, fmt):>13}" if v is not None else f"{'':>13}" for v in vals)
        ratios = [(v / vals[0] if higher_better else vals[0] / v) if v else None for v in vals[1:]]
        print(f"{label:<36}{cells}   " + " ".join(f"x{r:.2f}" for r in ratios if r))

    for unit, key in (("wall", "rate"), ("CPU", "cpu_rate")):
        for fmt in ("json", "arrow"):
            for size in THROUGHPUT_SIZES:
                k = f"throughput/{fmt}/{size}"
                vals = [s[k][key] for s in sides.values()]
                line(f"{fmt} events/{unit} s, batch {size:,}", vals, ",.0f")
    for unit, key in (("wall", "ms"), ("CPU", "cpu_ms")):
        for size in FIXED_SIZES:
            k = f"fixed/{size}"
            vals = [s[k][key] if k in s else None for s in sides.values()]
            line(f"{unit} ms per batch of {size:,} JSON", vals, ".2f", higher_better=False)
    for fmt in ("json", "arrow"):
        staged = [s.get(f"stages/{fmt}") for s in sides.values()]
        line(f"{fmt} ms per 30k batch (stages)",
             [st and st["ms_per_batch"] for st in staged], ".1f", higher_better=False)  # fmt: skip
        for stage in ("parse", "featurise", "score", "encode", "snapshot", "other"):
            vals = [st and 100 * st[stage] for st in staged]
            cells = "".join(f"{v:>12.1f}%" if v is not None else f"{'':>13}" for v in vals)
            print(f"{'  ' + stage:<36}{cells}")
    print(f"\nbytes out per event (JSON, batch {THROUGHPUT_SIZES[-1]:,}):")
    width = max(len(n) for n in names) + 2
    for name, s in sides.items():
        b = s[f"throughput/json/{THROUGHPUT_SIZES[-1]}"]["bytes_per_event"]
        print(f"  {name:<{width}}" + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(b.items())))
    del base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, help="a state dir with trained models (reused)")
    parser.add_argument("--baseline-ref", default="main", help="git ref to compare with")
    parser.add_argument("--events", type=int, default=60_000, help="events per throughput run")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="side-by-side repetitions, best kept (0: profile only)",
    )
    parser.add_argument("--profile", type=Path, help="also py-spy this tree; raw output here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repo", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
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
        off = {"score_results": False}
        contenders = {
            args.baseline_ref: (base, {}),
            "this": (REPO, {}),
            "results off": (REPO, off),
            "+sample 0.1": (REPO, {**off, "snapshots": "sample:0.1"}),
            "+snap none": (REPO, {**off, "snapshots": "none"}),
        }
        quick = {"+sample 0.1", "+snap none"}  # throughput only
        if args.rounds:
            print(f"starting {len(contenders)} sides (load average {os.getloadavg()[0]:.1f})...",
                  flush=True)  # fmt: skip
            sides = [
                SideProcess(name, repo, models, options, args.events, Path(tmp) / f"{i}.log")
                for i, (name, (repo, options)) in enumerate(contenders.items())
            ]
            try:
                best = measure(sides, args.rounds, quick)
            finally:
                for side in sides:
                    side.close()
            report(best)
            print(f"(load average at the end: {os.getloadavg()[0]:.1f})")
        if args.profile is not None:
            print(f"\nprofile of this tree, results off (py-spy; raw stacks in {args.profile}):")
            with contextlib.suppress(FileNotFoundError):
                args.profile.unlink()
            profile_side(REPO, models, off, args.events, args.profile)
            print("\n".join(top_frames(args.profile)))


if __name__ == "__main__":
    main()
