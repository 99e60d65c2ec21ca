"""The demo: the whole loop on one machine, from nothing to live scores.

:func:`run_demo` does, in order:

1. Start the local Kafka broker (unless ``KAFKA_BOOTSTRAP_SERVERS`` is set) and create the topics.
2. If the model registry has no champion, simulate a population and train churn and upsell
   models on it (``streamscore simulate`` and ``streamscore train``).
3. Start ``streamscore worker --processes <workers>`` as a child process: that many worker
   processes in one consumer group, each serving ``/metrics`` on its own loopback port; and the
   web GUI (``streamscore gui``, scraping them); print the GUI's address.
4. Produce, in a background thread and at a steady rate: a fresh simulation (activity events,
   some as Arrow batches), this machine's own log files, and a few malformed records.
5. Show a live terminal view of scores, throughput and dead letters, read from the output topics
   (read_committed), until Ctrl-C or ``duration`` seconds after the first result (the workers'
   start-up does not count: on a busy machine it can take most of a short run). No result
   within :data:`FIRST_RESULT_TIMEOUT_S` of starting the workers ends the demo with an error.
6. Stop the producer, the GUI and the workers (SIGTERM, then SIGKILL after a grace period).
   The broker keeps running.
"""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from schemas import decode_dead_letter, decode_score_results
from streams.kafka import broker_up, resolve_bootstrap
from streams.kafka.admin import create_topics
from streams.kafka.clients import make_consumer
from streams.produce import Publisher, replay_file, replay_simulation
from streams.settings import Settings
from streams.topics import topic_name

__all__ = ["DemoOptions", "DemoSummary", "run_demo"]

LOG_FILES = (
    "/var/log/dpkg.log",
    "/var/log/apt/history.log",
    "/var/log/syslog",
    "/var/log/auth.log",
)
JUNK = (
    b'{"event_id": "bad", "user_id": "u1", "ts": "yesterday", "type": "login"}',
    b"\x00\xffnot a log line",
    b"",
)


FIRST_RESULT_TIMEOUT_S = 300.0
"""How long the demo waits for the workers' first score or dead letter before it gives up."""


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float | None = None  # after the first result; None: until Ctrl-C
    rate: float = 2000.0  # events produced per second
    workers: int = 1
    users: int = 3000  # simulated users (training and live)
    days: int = 35
    epochs: int | None = None  # max epochs of the first training (None: train's default)
    gui: bool = True  # serve the web GUI next to the workers


@dataclass
class DemoSummary:
    produced: int = 0
    scores: int = 0
    dead_letters: int = 0
    by_model: collections.Counter = field(default_factory=collections.Counter)
    dead_by_reason: collections.Counter = field(default_factory=collections.Counter)
    recent: collections.deque = field(default_factory=lambda: collections.deque(maxlen=12))
    started: float = field(default_factory=time.monotonic)
    error: str | None = None


def _cli(
    settings: Settings,
    *args: str,
    log: Path | None = None,
    wait: bool = True,
    env: dict[str, str] | None = None,
):
    cmd = [sys.executable, "-m", "streams.cli", "--state-dir", str(settings.state_dir), *args]
    if settings.kafka_bootstrap_servers:
        cmd[3:3] = ["--bootstrap-servers", settings.kafka_bootstrap_servers]
    if not wait:
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - child owns it
        child_env = {**os.environ, **env} if env else None
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=child_env)
    done = subprocess.run(cmd, check=False)
    if done.returncode:
        raise RuntimeError(f"`streamscore {' '.join(args)}` failed with exit {done.returncode}")
    return done


def _ensure_models(settings: Settings, opts: DemoOptions, console: Console) -> None:
    from models.registry import TASKS, ModelRegistry

    registry = ModelRegistry.from_settings(settings)
    if all(registry.champion(t) is not None for t in TASKS):
        console.print(f"models: champions found in {registry.root}")
        return
    console.print("models: none yet, simulating a population and training churn and upsell")
    _cli(settings, "simulate", "--users", str(opts.users), "--days", str(opts.days))
    epochs = [] if opts.epochs is None else ["--epochs", str(opts.epochs)]
    _cli(settings, "train", "--task", "all", "--kind", "mlp", *epochs)


def _produce(pub: Publisher, opts: DemoOptions, summary: DemoSummary, stop: threading.Event):
    try:
        for path in LOG_FILES:
            if stop.is_set():
                return
            if Path(path).is_file():
                for n in replay_file(pub, Path(path)):
                    summary.produced += n
        pub.send("activity", [JUNK[0]], [None])
        pub.send("raw-logs", list(JUNK[1:]), [None, None])
        summary.produced += len(JUNK)
        seed = 100
        while not stop.is_set():  # a fresh simulated population each round
            for n in replay_simulation(
                pub,
                users=opts.users,
                days=opts.days,
                seed=seed,
                arrow=seed % 2 == 1,
                batch_size=1000,
            ):
                summary.produced += n
                if stop.is_set():
                    return
            seed += 1
    except Exception as exc:
        summary.error = f"producer: {exc!r}"


def _view(summary: DemoSummary, settings: Settings, workers: list) -> Group:
    elapsed = max(time.monotonic() - summary.started, 1e-9)
    head = Table.grid(padding=(0, 3))
    head.add_row(
        f"[b]produced[/b] {summary.produced:,} ({summary.produced / elapsed:,.0f}/s)",
        f"[b]scores[/b] {summary.scores:,} ({summary.scores / elapsed:,.0f}/s)",
        f"[b]dead letters[/b] {summary.dead_letters:,}",
        f"[b]workers[/b] {'up' if all(w.poll() is None for w in workers) else 'DOWN'}",
        f"{elapsed:,.0f}s",
    )
    recent = Table(title="latest scores", expand=True)
    for col in ("event", "entity", "model", "version", "score", "decision", "served by"):
        recent.add_column(col)
    for row in list(summary.recent):
        recent.add_row(*row)
    models = Table(title="per model")
    models.add_column("model")
    models.add_column("scores", justify="right")
    for name, n in sorted(summary.by_model.items()):
        models.add_row(name, f"{n:,}")
    dead = Table(title="dead letters by reason")
    dead.add_column("n", justify="right")
    dead.add_column("reason")
    for reason, n in summary.dead_by_reason.most_common(5):
        dead.add_row(str(n), reason[:100])
    parts = [head, recent, Table.grid(), models, dead]
    if summary.error:
        parts.append(f"[red]{summary.error}[/red]")
    parts.append(f"[dim]topics {settings.topic_prefix}*  -  Ctrl-C stops the demo[/dim]")
    return Group(*parts)


def _consume(consumer, summary: DemoSummary, scores_topic: str) -> None:
    msgs = [m for m in consumer.consume(5000, timeout=0.2) if m.error() is None]
    scores = [m.value() for m in msgs if m.topic() == scores_topic]
    if scores:
        cols = decode_score_results(scores)
        summary.scores += len(scores)
        summary.by_model.update(cols["model_name"].tolist())
        for i in range(max(0, len(scores) - 4), len(scores)):
            summary.recent.appendleft(
                (
                    str(cols["event_id"][i])[:20],
                    str(cols["entity"][i]),
                    str(cols["model_name"][i]),
                    str(cols["model_version"][i]),
                    f"{float(cols['score'][i]):.3f}",
                    "yes" if cols["decision"][i] else "no",
                    str(cols["served_by"][i]),
                )
            )
    for m in msgs:
        if m.topic() != scores_topic:
            letter = decode_dead_letter(m.value())
            summary.dead_letters += 1
            summary.dead_by_reason[f"{letter.stage.label}: {letter.reason[:80]}"] += 1


def _free_ports(n: int) -> int:
    """A port p such that p .. p+n-1 are free on 127.0.0.1 now."""
    for _ in range(100):
        base = _free_port()
        if base + n <= 65535 and all(_free_port(base + i) == base + i for i in range(1, n)):
            return base
    raise RuntimeError(f"found no {n} consecutive free ports")


def _free_port(preferred: int = 0) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:  # taken: any free one
            s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_gui(settings: Settings, worker_ports: list[int], logs: Path, console: Console):
    """``streamscore gui`` on the configured port (or a free one), scraping the workers."""
    port = _free_port(settings.gui_port)
    args = ["gui", "--host", settings.gui_host, "--port", str(port)]
    for worker_port in worker_ports:
        args += ["--metrics", f"http://127.0.0.1:{worker_port}/metrics"]
    gui = _cli(settings, *args, log=logs / "gui.log", wait=False)
    from streams.web.runner import gui_address

    address = gui_address(settings.gui_host, port, settings.web_token is not None)
    console.print(f"GUI: {address}  (log {logs / 'gui.log'})")
    return gui


def run_demo(settings: Settings, opts: DemoOptions, console: Console | None = None) -> DemoSummary:
    """Run the demo (see the module docstring); return what it saw."""
    console = console or Console()
    local = not settings.kafka_bootstrap_servers
    if not local:
        bootstrap = settings.kafka_bootstrap_servers
        console.print(f"Kafka: using KAFKA_BOOTSTRAP_SERVERS={bootstrap}")
    else:
        info = broker_up(settings)
        bootstrap = resolve_bootstrap(settings)  # its SASL_SSL listener if security asks for it
        state = "already running" if info.already_running else "started"
        console.print(f"Kafka {info.version}: {state} at {bootstrap} (pid {info.pid})")
    settings = settings.model_copy(update={"kafka_bootstrap_servers": bootstrap})
    created = create_topics(settings, bootstrap)
    console.print(
        f"topics: {sum(v == 'created' for v in created.values())} created, {len(created)} in all"
    )
    _ensure_models(settings, opts, console)

    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # One `streamscore worker --processes N`: N processes in one group, process i serving
    # /metrics on the base port + i.
    base = _free_ports(opts.workers) if opts.gui else 0
    ports = [base + i for i in range(opts.workers)] if opts.gui else []
    workers = [
        _cli(
            settings,
            "worker",
            "--processes",
            str(opts.workers),
            log=logs / "worker.log",
            wait=False,
            env={"STREAMSCORE_WEB_PORT": str(base)},
        )
    ]
    console.print(f"workers: {opts.workers} process(es) started (log in {logs / 'worker.log'})")
    gui = _start_gui(settings, ports, logs, console) if opts.gui else None
    summary = DemoSummary()
    stop = threading.Event()
    pub = Publisher(settings, bootstrap, rate=opts.rate)
    producer = threading.Thread(target=_produce, args=(pub, opts, summary, stop), daemon=True)
    consumer = make_consumer(bootstrap, settings=settings)
    scores_topic = topic_name(settings, "scores")
    consumer.subscribe([scores_topic, topic_name(settings, "dead-letters")])
    producer.start()
    first_by = time.monotonic() + FIRST_RESULT_TIMEOUT_S
    deadline = None  # duration_s after the first result
    try:
        with Live(
            _view(summary, settings, workers),
            console=console,
            refresh_per_second=2,
            transient=False,
        ) as live:
            while deadline is None or time.monotonic() < deadline:
                _consume(consumer, summary, scores_topic)
                live.update(_view(summary, settings, workers))
                if all(w.poll() is not None for w in workers):
                    summary.error = "every worker exited; see " + str(logs)
                    break
                results = summary.scores + summary.dead_letters
                if results and deadline is None and opts.duration_s is not None:
                    deadline = time.monotonic() + opts.duration_s
                elif not results and time.monotonic() > first_by:
                    summary.error = (
                        f"no score or dead letter within {FIRST_RESULT_TIMEOUT_S:.0f} s of "
                        f"starting the workers; see {logs}"
                    )
                    break
    except KeyboardInterrupt:
        console.print("stopping (Ctrl-C)")
    finally:
        stop.set()
        producer.join(timeout=10)
        try:
            pub.close()
        except RuntimeError as exc:
            summary.error = str(exc)
        children = [*workers, *([gui] if gui else [])]
        for w in children:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in children:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()
        consumer.close()
    console.print(
        f"demo done: {summary.produced:,} events produced, {summary.scores:,} scores, "
        f"{summary.dead_letters:,} dead letters in {time.monotonic() - summary.started:,.0f}s"
        + (f"; {summary.error}" if summary.error else "")
    )
    if local:
        console.print("the broker keeps running: `streamscore kafka status`, `kafka down`")
    return summary
