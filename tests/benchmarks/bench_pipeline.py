"""End-to-end benchmark of one scoring worker, with its baselines, in one run.

Prints one table:

- ceiling: a raw confluent-kafka passthrough (consume -> produce, no work);
- naive: a Faust agent that parses each JSON event and calls ``model.predict`` per event;
- streamscore: ``streamscore worker`` on per-event JSON input, exactly-once (with py-spy
  attached, then without), at-least-once, and with ``--processes 2``; on Arrow batch input with
  every output, and with per-event ScoreResults off (``STREAMSCORE_SCORE_RESULTS=off``, where
  that setting exists; the rate is then read from the ScoreBatches); sustained events/s =
  events / (last score time - first score time);
- latency: produced -> result committed (read_committed), p50/p99, with the producer paced at
  50% and 80% of the sustained JSON rate of each guarantee;
- where the worker's time goes (py-spy, if installed), the top frames.

Run: ``.venv/bin/python tests/benchmarks/bench_pipeline.py [--events 100000]``. It starts its own
broker (or uses KAFKA_BOOTSTRAP_SERVERS) and trains small models in a temporary state dir.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from schemas import decode_score_batch, decode_score_results  # noqa: E402
from streams.kafka import broker_down, broker_up  # noqa: E402
from streams.kafka.admin import create_topics  # noqa: E402
from streams.kafka.clients import make_consumer, make_producer  # noqa: E402
from streams.produce import Publisher  # noqa: E402
from streams.settings import ENVIRONMENT, load_settings  # noqa: E402
from streams.topics import topic_name  # noqa: E402
from tests.support.workload import ARROW_SCHEMA  # noqa: E402

USERS = 5000


def activity(n: int, seed: int, t0: int | None = None) -> list[dict]:
    rng = np.random.default_rng(seed)
    types = ["login", "view", "like", "message", "session_end", "purchase"]
    ts = (t0 or 1_780_000_000_000) + np.cumsum(rng.integers(1, 20, n))
    users = rng.integers(0, USERS, n)
    kinds = rng.integers(0, len(types), n)
    return [
        {
            "event_id": f"b{seed}-{i}",
            "user_id": f"u{users[i]:05d}",
            "ts": int(ts[i]),
            "type": types[kinds[i]],
        }
        for i in range(n)
    ]


def batch_columns(buffers: list[bytes]) -> dict[str, np.ndarray]:
    """The event and scoring times of ScoreBatch records, one row per event and model."""
    cols = [decode_score_batch(b) for b in buffers]
    return {
        "event_time_ms": np.concatenate([np.asarray(c.event_time_ms) for c in cols]),
        "scored_time_ms": np.concatenate([np.asarray(c.scored_time_ms) for c in cols]),
    }


def run(cmd: list[str], env: dict) -> None:
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{cmd} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


class Bench:
    def __init__(self, events: int) -> None:
        self.events = events
        self.runs = 0
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
        self.base = load_settings(env={}, state_dir=self.tmp / "broker")
        self.bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        self.own_broker = not self.bootstrap
        if self.own_broker:
            self.bootstrap = broker_up(self.base).bootstrap
        self.state = self.tmp / "state"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSCORE_")}
        self.env.update(
            KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
            STREAMSCORE_WEB_PORT="0",
            STREAMSCORE_STATE_DIR=str(self.state),
        )
        cli = [sys.executable, "-m", "streams.cli"]
        run([*cli, "simulate", "--users", "2000", "--days", "35"], self.env)
        run([*cli, "train", "--task", "all", "--kind", "mlp", "--epochs", "4"], self.env)

    def deployment(self, name: str):
        settings = load_settings(
            env={},
            state_dir=self.tmp / f"state-{name}",
            kafka_bootstrap_servers=self.bootstrap,
            topic_prefix=f"bench{int(time.time())}{name}.",
        )
        (self.tmp / f"state-{name}").mkdir()
        os.symlink(self.state / "models", settings.state_dir / "models")
        create_topics(settings, self.bootstrap)
        return settings

    def start_worker(self, settings, processes: int = 1, **extra: str) -> subprocess.Popen:
        env = {
            **self.env,
            "STREAMSCORE_STATE_DIR": str(settings.state_dir),
            "STREAMSCORE_TOPIC_PREFIX": settings.topic_prefix,
            **extra,
        }
        log = open(settings.state_dir / "worker.log", "wb")  # noqa: SIM115
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker", "--processes", str(processes)],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def collect(
        self,
        settings,
        n_events: int,
        timeout: float,
        pid: int | None = None,
        profile: Path | None = None,
        since_ms: float = 0,
        results: str = "scores",
    ) -> dict:
        """Read scores until every event has both models' scores; times and latencies.

        With ``since_ms``, only scores of events timed at or after it count (the topic also
        holds the warm-up's). ``results="score-batches"`` reads the columnar ScoreBatches
        (for a worker whose per-event ScoreResults are off)."""
        consumer = make_consumer(self.bootstrap, settings=settings)
        consumer.subscribe([topic_name(settings, results)])
        want = 2 * n_events
        got, first, last, latency = 0, None, None, []
        spy = None
        py_spy = shutil.which("py-spy") or shutil.which(
            "py-spy", path=str(Path(sys.executable).parent)
        )
        deadline = time.monotonic() + timeout
        while got < want and time.monotonic() < deadline:
            # Small, short polls: consume() returns after num_messages or the timeout, and
            # a long one would add its wait to every latency measured here.
            msgs = [m.value() for m in consumer.consume(200, timeout=0.01) if m.error() is None]
            if not msgs:
                continue
            now = time.time() * 1000
            cols = decode_score_results(msgs) if results == "scores" else batch_columns(msgs)
            if since_ms:
                recent = cols["event_time_ms"] >= since_ms
                cols = {k: np.asarray(v)[recent] for k, v in cols.items()}
                if not recent.any():
                    continue
            got += len(cols["event_time_ms"])
            if spy is None and profile is not None and pid and py_spy:
                # Sampling starts once the worker scores (py-spy cannot attach mid-import).
                spy = subprocess.Popen(
                    [
                        py_spy,
                        "record",
                        "-p",
                        str(pid),
                        "-d",
                        "15",
                        "-r",
                        "50",
                        "-f",
                        "raw",
                        "-o",
                        str(profile),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            scored = cols["scored_time_ms"]
            first = scored.min() if first is None else min(first, scored.min())
            last = scored.max() if last is None else max(last, scored.max())
            latency.append(now - cols["event_time_ms"])
        consumer.close()
        if spy is not None:
            spy.wait(60)
        span = max((last - first) / 1000, 1e-9) if first is not None else float("nan")
        lat = np.concatenate(latency) if latency else np.zeros(0)
        return {"scores": got, "span_s": span, "rate": got / 2 / span, "latency_ms": lat}

    # --- the contenders --------------------------------------------------------------------

    def passthrough(self, n: int) -> float:
        settings = self.deployment("raw")
        src, dst = topic_name(settings, "activity"), topic_name(settings, "scores")
        self.produce_json(settings, activity(n, 1))
        consumer = make_consumer(self.bootstrap, settings=settings)
        consumer.subscribe([src])
        producer = make_producer(self.bootstrap, settings=settings, **{"enable.idempotence": False})
        seen, t0 = 0, None
        while seen < n:
            msgs = consumer.consume(5000, timeout=1.0)
            if t0 is None and msgs:
                t0 = time.perf_counter()
            for m in msgs:
                producer.produce(dst, m.value(), m.key(), partition=m.partition())
                seen += 1
            producer.poll(0)
        producer.flush()
        consumer.close()
        return n / (time.perf_counter() - t0)

    def naive(self, n: int) -> float:
        """A Faust agent, one event at a time: json.loads, features, model.predict, send."""
        settings = self.deployment("naive")
        self.produce_json(settings, activity(n, 2))
        app = self.tmp / "naive_app.py"
        app.write_text(NAIVE_APP)
        env = {
            **self.env,
            "NAIVE_BROKER": self.bootstrap,
            "NAIVE_STATE": str(self.state),
            "NAIVE_IN": topic_name(settings, "activity"),
            "NAIVE_OUT": topic_name(settings, "scores"),
            "NAIVE_N": str(n),
            "PYTHONPATH": f"{REPO}:{self.tmp}",
        }
        done = subprocess.run(
            [sys.executable, "-m", "faust", "-A", "naive_app", "worker", "-l", "warn"],
            env=env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=900,
        )
        rate = [
            line
            for line in done.stdout.splitlines() + done.stderr.splitlines()
            if "NAIVE_RATE" in line
        ]
        if not rate:
            raise SystemExit(f"naive agent failed:\n{done.stderr[-3000:]}")
        return float(rate[-1].split("NAIVE_RATE=")[1].split()[0])

    def produce_json(self, settings, events: list[dict], rate: float | None = None) -> None:
        """Send events keyed by user; with ``rate``, paced in small steps, each event's time
        set to the moment it is sent (so a score's latency is now - its event time)."""
        step = 2000 if rate is None else max(1, int(rate / 100))
        start = time.perf_counter()
        with Publisher(settings, self.bootstrap) as pub:
            for i in range(0, len(events), step):
                chunk = events[i : i + step]
                if rate:
                    ahead = i / rate - (time.perf_counter() - start)
                    if ahead > 0:
                        time.sleep(ahead)
                    now = int(time.time() * 1000)
                    for e in chunk:
                        e["ts"] = now
                pub.send(
                    "activity",
                    [json.dumps(e).encode() for e in chunk],
                    [e["user_id"].encode() for e in chunk],
                )
                pub.flush_soon()

    def streamscore(
        self,
        kind: str,
        n: int,
        profile: Path | None = None,
        processes: int = 1,
        results: str = "scores",
        **extra: str,
    ) -> dict:
        self.runs += 1
        settings = self.deployment(f"{kind}-{self.runs}")
        events = activity(n, 3)
        if kind == "json":
            self.produce_json(settings, events)
        else:
            with Publisher(settings, self.bootstrap) as pub:
                for i in range(0, n, 5000):
                    rows = [{**e, "properties": None} for e in events[i : i + 5000]]
                    pub.send_arrow(pa.Table.from_pylist(rows, schema=ARROW_SCHEMA))
        worker = self.start_worker(settings, processes, **extra)
        try:
            return self.collect(
                settings, n, timeout=900, pid=worker.pid, profile=profile, results=results
            )
        finally:
            worker.terminate()
            worker.wait(60)

    def latency(self, rate: float, seconds: float, **extra: str) -> np.ndarray:
        """Latencies (ms) of ``seconds`` of JSON events paced at ``rate`` per second."""
        self.runs += 1
        settings = self.deployment(f"lat{int(rate)}-{self.runs}")
        worker = self.start_worker(settings, **extra)
        try:
            warm = activity(200, 9)
            self.produce_json(settings, warm)
            self.collect(settings, len(warm), timeout=300)  # worker up and warm
            n = int(rate * seconds)
            events = activity(n, 10)
            import threading

            t = threading.Thread(target=self.produce_json, args=(settings, events, rate))
            since_ms = time.time() * 1000 - 1  # event times are set when sent, after this
            t.start()
            out = self.collect(settings, n, timeout=seconds + 120, since_ms=since_ms)
            t.join()
            return out["latency_ms"]
        finally:
            worker.terminate()
            worker.wait(60)

    def close(self) -> None:
        if self.own_broker:
            broker_down(self.base)
        shutil.rmtree(self.tmp, ignore_errors=True)


NAIVE_APP = """
import json, os, time
import faust, numpy as np, pyarrow as pa
from streams.etl import parse_batch, TopicOrigin
from streams.scoring import load_model_set
from streams.kafka_security import faust_credentials
from streams.settings import load_settings
settings = load_settings(env={}, state_dir=os.environ["NAIVE_STATE"])
models = load_model_set(settings)
keras = {m.name: m._scorer._chain[0][4].model.keras_model for m in models.models}
app = faust.App("naive-" + str(time.time()), broker="kafka://" + os.environ["NAIVE_BROKER"],
                broker_credentials=faust_credentials(settings), store="memory://",
                web_enabled=False, consumer_auto_offset_reset="earliest")
src = app.topic(os.environ["NAIVE_IN"], value_serializer="raw")
dst = app.topic(os.environ["NAIVE_OUT"], value_serializer="raw")
N = int(os.environ["NAIVE_N"]); state = {"n": 0, "t0": None}
@app.agent(src)
async def naive(stream):
    window = models.pipeline.new_state()
    async for value in stream:
        state["t0"] = state["t0"] or time.perf_counter()
        event = json.loads(value)
        parsed = parse_batch([value], "activity", TopicOrigin("x", 0, 0))
        x = models.pipeline.transform(parsed.events, window).X
        for name, model in keras.items():
            p = float(model.predict(x, verbose=0)[0, 0])
            await dst.send(key=event["user_id"].encode(), value=json.dumps(
                {"event_id": event["event_id"], "model": name, "score": p}).encode())
        state["n"] += 1
        if state["n"] >= N:
            print(f"NAIVE_RATE={N / (time.perf_counter() - state['t0']):.3f}", flush=True)
            os._exit(0)
"""


def top_frames(profile: Path, k: int = 14) -> list[str]:
    if not profile.exists():
        return ["(py-spy not installed: no profile)"]
    total, incl = 0, collections.Counter()
    for line in profile.read_text().splitlines():
        stack, n = line.rsplit(" ", 1)
        total += int(n)
        for frame in set(stack.split(";")):
            incl[frame] += int(n)
    return [
        f"{n / total:6.1%}  {f[:110]}"
        for f, n in incl.most_common(60)
        if any(
            s in f
            for s in (
                "streams/",
                "schemas/",
                "kernels/",
                "confluent_kafka",
                "threading",
                "models/",
            )
        )
    ][:k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="JSON events (default 100k)")
    parser.add_argument("--arrow-events", type=int, default=1_000_000)
    parser.add_argument("--naive-events", type=int, default=300)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument(
        "--latency-only",
        type=float,
        default=None,
        metavar="RATE",
        help="only measure latency at this JSON rate (events/s), both guarantees",
    )
    args = parser.parse_args()
    b = Bench(args.events)
    eos = {"STREAMSCORE_PROCESSING_GUARANTEE": "exactly_once"}
    alo = {"STREAMSCORE_PROCESSING_GUARANTEE": "at_least_once"}
    if args.latency_only:
        try:
            for name, env in (("exactly-once", eos), ("at-least-once", alo)):
                ms = b.latency(args.latency_only, args.latency_seconds, **env)
                print(
                    f"latency at {args.latency_only:,.0f}/s ({name}): "
                    f"p50 {np.percentile(ms, 50):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms "
                    f"({len(ms)} scores)",
                    flush=True,
                )
        finally:
            b.close()
        return
    bulk = (
        {"STREAMSCORE_SCORE_RESULTS": "off"} if "STREAMSCORE_SCORE_RESULTS" in ENVIRONMENT else None
    )
    rows: list[tuple[str, float]] = []
    lat: dict[tuple[str, float], tuple[float, np.ndarray]] = {}
    try:
        ceiling = b.passthrough(args.events)
        print(f"passthrough: {ceiling:,.0f} records/s", flush=True)
        naive = b.naive(args.naive_events)
        print(f"naive agent: {naive:,.1f} events/s", flush=True)
        rows += [
            ("raw confluent-kafka passthrough (ceiling)", ceiling),
            ("naive Faust agent, model.predict per event", naive),
        ]
        prof = b.tmp / "profile.txt"
        runs = [
            ("JSON, exactly-once, py-spy attached", "json", 1, "scores", eos, prof),
            ("JSON, exactly-once", "json", 1, "scores", eos, None),
            ("JSON, at-least-once", "json", 1, "scores", alo, None),
            ("JSON, exactly-once, --processes 2", "json", 2, "scores", eos, None),
            ("Arrow, exactly-once, all outputs", "arrow", 1, "scores", eos, None),
        ]
        if bulk is not None:
            runs.append(
                (
                    "Arrow, exactly-once, ScoreResults off",
                    "arrow",
                    1,
                    "score-batches",
                    {**eos, **bulk},
                    None,
                )
            )
        rates = {}
        for name, kind, procs, results, env, profile in runs:
            n = args.events if kind == "json" else args.arrow_events
            out = b.streamscore(kind, n, profile=profile, processes=procs, results=results, **env)
            rates[name] = out["rate"]
            rows.append((f"streamscore worker, {name}", out["rate"]))
            print(f"{name}: {out['rate']:,.0f} events/s", flush=True)
        frames = top_frames(prof)
        for guarantee, env, rate in (
            ("exactly-once", eos, rates["JSON, exactly-once"]),
            ("at-least-once", alo, rates["JSON, at-least-once"]),
        ):
            for share in (0.5, 0.8):
                lat[(guarantee, share)] = (
                    rate * share,
                    b.latency(rate * share, args.latency_seconds, **env),
                )
    finally:
        b.close()
    print(f"\n{'contender':56s} {'events/s':>12s} {'vs naive':>10s} {'vs ceiling':>11s}")
    for name, rate in rows:
        print(f"{name:56s} {rate:12,.0f} {rate / naive:9,.0f}x {rate / ceiling:10.2f}x")
    print("\nlatency produced -> result committed (read_committed), JSON input, one worker:")
    for (guarantee, share), (rate, ms) in lat.items():
        if len(ms):
            print(
                f"  {guarantee:13s} at {share:.0%} ({rate:,.0f}/s): "
                f"p50 {np.percentile(ms, 50):7.1f} ms, p99 {np.percentile(ms, 99):7.1f} ms "
                f" ({len(ms)} scores)"
            )
    print("\nwhere the worker's time goes (inclusive share of samples, profiled JSON run):")
    print("\n".join(frames))


if __name__ == "__main__":
    main()
