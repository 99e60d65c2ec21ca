"""Helpers for the end-to-end pipeline tests: trained models, workers as processes, results."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from schemas import decode_dead_letter, decode_score_result, decode_score_results
from streams.etl import parse_batch
from streams.etl.types import FileOrigin
from streams.kafka.admin import create_topics
from streams.kafka.clients import make_admin, make_consumer
from streams.pipeline import BatchProcessor, records_from_values
from streams.produce import Publisher
from streams.scoring import load_model_set
from streams.settings import Settings, load_settings
from streams.topics import topic_name
from tests.support.cli import REPO, clean_env, streamscore
from tests.support.workload import Workload, arrow_payload

MODELS = ("churn", "upsell")


def train_models(state_dir: Path) -> None:
    """Simulate a small population and train both tasks into ``state_dir``'s registry."""
    env = clean_env()
    for args in (
        ("simulate", "--users", "1200", "--days", "35", "--seed", "0"),
        ("train", "--task", "all", "--kind", "mlp", "--epochs", "4"),
    ):
        done = streamscore("--state-dir", str(state_dir), *args, env=env, timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


STARTED: list[subprocess.Popen] = []
"""Every worker process a test started: what a test left running is stopped after it
(``stop_leftover_workers`` in tests/integration/conftest.py), even when it failed before its
own ``finally``."""


@dataclass
class Deployment:
    """One isolated deployment: its own topic prefix and state directory, sharing the models."""

    bootstrap: str
    state_dir: Path
    prefix: str
    security: dict[str, str] = field(default_factory=dict)  # STREAMSCORE_KAFKA_* variables

    @classmethod
    def create(
        cls, bootstrap: str, trained: Path, tmp: Path, security: dict[str, str] | None = None
    ) -> Deployment:
        """``security``: the Kafka security variables every client and process gets."""
        state = tmp / "state"
        shutil.copytree(trained / "models", state / "models")
        d = cls(bootstrap, state, f"t{uuid.uuid4().hex[:8]}.", dict(security or {}))
        create_topics(d.settings, bootstrap)
        return d

    @property
    def settings(self) -> Settings:
        return load_settings(env=self.security, **self.overrides)

    @property
    def overrides(self) -> dict:
        return {
            "state_dir": self.state_dir,
            "kafka_bootstrap_servers": self.bootstrap,
            "topic_prefix": self.prefix,
        }

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "STREAMSCORE_TOPIC_PREFIX": self.prefix,
            "STREAMSCORE_STATE_DIR": str(self.state_dir),
            "STREAMSCORE_WEB_PORT": "0",
            "STREAMSCORE_TABLE_STORE": "rocksdb",
            **self.security,
        }
        return clean_env(**{**env, **extra})

    def start_worker(
        self,
        name: str,
        *,
        faust_cli: bool = False,
        workers_disk_bytes: int | None = None,
        args: tuple[str, ...] = (),
        **extra: str,
    ) -> subprocess.Popen:
        """A ``streamscore worker`` process (or ``faust -A streams.app worker``) with its own
        state directory (the same again for the same ``name``). With ``workers_disk_bytes``,
        the worker's window-state stores (``<state>/workers``) are on a tmpfs of that size,
        mounted in a mount namespace of the worker's own (``unshare -rm``): a real full disk,
        for that process only."""
        log = open(self.state_dir.parent / f"{name}.log", "ab")  # noqa: SIM115 - closed by OS
        own_state = self.state_dir.parent / f"state-{name}"
        if not own_state.exists():
            own_state.mkdir()
            os.symlink(self.state_dir / "models", own_state / "models")
        env = self.env(STREAMSCORE_STATE_DIR=str(own_state), **extra)
        cmd = (
            ["-m", "faust", "-A", "streams.app", "worker", "-l", "warn"]
            if faust_cli
            else ["-m", "streams.cli", "worker", "-l", "warn", *args]
        )

        argv = [sys.executable, *cmd]
        if workers_disk_bytes is not None:
            disk = own_state / "workers"
            disk.mkdir(exist_ok=True)
            mount = f'mount -t tmpfs -o size={workers_disk_bytes} tmpfs "$0" && exec "$@"'
            argv = ["unshare", "-rm", "sh", "-c", mount, str(disk), *argv]
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        STARTED.append(proc)
        return proc

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.state_dir.parent / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def produce(self, w: Workload) -> None:
        with Publisher(self.settings, self.bootstrap) as pub:
            pub.send("activity", [v for _, v in w.json_activity], [k for k, _ in w.json_activity])
            for table in w.arrow_tables:
                pub.send_arrow(table)
            pub.send("raw-logs", [v for _, v in w.log_lines], [k for k, _ in w.log_lines])
            for key, value in w.malformed:
                pub.send(key, [value], [None])

    def group_members(self) -> dict[str, set[tuple[str, int]]]:
        """Consumer-group members of the default worker group and their assigned partitions."""
        from confluent_kafka import KafkaError, KafkaException

        coordinator = {
            KafkaError.NOT_COORDINATOR,
            KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
            KafkaError.COORDINATOR_NOT_AVAILABLE,
        }

        admin = make_admin(self.bootstrap, self.settings)
        group = f"{self.prefix}worker.activity-logs.all"
        for attempt in range(30):
            try:
                desc = admin.describe_consumer_groups([group])[group].result(timeout=30)
                break
            except KafkaException as exc:  # NOT_COORDINATOR while a new broker loads offsets
                err = exc.args[0]
                if not (err.retriable() or err.code() in coordinator) or attempt == 29:
                    raise
                time.sleep(1)
        return {
            m.member_id: {(tp.topic, tp.partition) for tp in m.assignment.topic_partitions}
            for m in desc.members
        }


def last_data_offsets(
    bootstrap: str, topic: str, settings: Settings | None = None
) -> dict[int, tuple[int, int]]:
    """Per partition of ``topic`` that holds records: (offset of its last data record, highwater),
    read with read_uncommitted so that records of aborted transactions count too.

    A transaction ends with a commit or abort marker, a control record that takes an offset but
    never reaches a consumer: in a partition written only in transactions, the last data record
    sits below ``highwater - 1``; in one written without, it sits at ``highwater - 1``.
    """
    from confluent_kafka import TopicPartition

    admin = make_admin(bootstrap, settings)
    parts = admin.list_topics(topic, timeout=30).topics[topic].partitions
    consumer = make_consumer(
        bootstrap, settings=settings, **{"isolation.level": "read_uncommitted"}
    )
    try:
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30) for p in parts
        }
        todo = {p for p, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in todo])
        last: dict[int, int] = {}
        deadline = time.monotonic() + 120
        while todo and time.monotonic() < deadline:
            for m in consumer.consume(5000, timeout=0.5):
                if m.error() is None:
                    last[m.partition()] = m.offset()
            positions = consumer.position([TopicPartition(topic, p) for p in todo])
            todo -= {tp.partition for tp in positions if tp.offset >= ends[tp.partition][1]}
        assert not todo, f"could not read {topic} partitions {sorted(todo)} to their end"
        return {p: (last[p], ends[p][1]) for p in last}
    finally:
        consumer.close()


def wait_until_listed(client, topics: list[str], timeout_s: float = 60) -> dict:
    """The broker's topic metadata once it lists every one of ``topics`` with its partitions
    (a topic created a moment before is not listed yet, and describing or assigning it fails).
    ``client``: any confluent-kafka client."""
    deadline = time.monotonic() + timeout_s
    meta = client.list_topics(timeout=30).topics
    while not all(t in meta and meta[t].partitions for t in topics):
        assert time.monotonic() < deadline, f"topics {topics} not in the metadata: {sorted(meta)}"
        time.sleep(0.5)
        meta = client.list_topics(timeout=30).topics
    return meta


def reader_from_start(d: Deployment, topics: list[str]):
    """A consumer of ``topics`` from their first offset, on every partition, outside any group.

    A test reader does not subscribe: a group member that rejoins (its coordinator's broker
    stopped, or the test went longer than ``max.poll.interval.ms`` between polls) has no
    committed offset and starts again from the earliest one, and every result would be counted
    twice. Assigned partitions keep their positions through all of that."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    consumer = make_consumer(d.bootstrap, settings=d.settings)
    meta = wait_until_listed(consumer, topics)
    consumer.assign(
        [TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in sorted(meta[t].partitions)]
    )
    return consumer


def first_reads(msgs, seen: set[tuple[str, int, int]]) -> list:
    """The records of ``msgs`` read for the first time: a record read again at the same
    (topic, partition, offset) is the reader's repeat, not a duplicate the workers wrote."""
    out = []
    for m in msgs:
        if m.error() is None:
            where = (m.topic(), m.partition(), m.offset())
            if where not in seen:
                seen.add(where)
                out.append(m)
    return out


class ResultReader:
    """Reads committed scores and dead letters of a deployment, keeping everything seen."""

    def __init__(self, d: Deployment) -> None:
        self.d = d
        self.scores: collections.Counter = collections.Counter()
        self.score_values: dict[tuple[str, str], float] = {}
        self.samples: list[bytes] = []
        self.dead: collections.Counter = collections.Counter()
        self.dead_reasons: list[str] = []
        self._consumer = reader_from_start(
            d, [topic_name(d.settings, "scores"), topic_name(d.settings, "dead-letters")]
        )
        self._seen: set[tuple[str, int, int]] = set()
        self._scores_topic = topic_name(d.settings, "scores")

    def poll(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msgs = first_reads(self._consumer.consume(2000, timeout=0.5), self._seen)
            scores = [m.value() for m in msgs if m.topic() == self._scores_topic]
            if scores:
                cols = decode_score_results(scores)
                for eid, model, score in zip(
                    cols["event_id"], cols["model_name"], cols["score"], strict=True
                ):
                    self.scores[(eid, model)] += 1
                    self.score_values[(eid, model)] = float(score)
                if len(self.samples) < 20:
                    self.samples += scores[: 20 - len(self.samples)]
            for m in msgs:
                if m.topic() != self._scores_topic:
                    letter = decode_dead_letter(m.value())
                    self.dead[
                        (letter.source_topic, letter.source_partition, letter.source_offset)
                    ] += 1
                    self.dead_reasons.append(letter.reason)

    def wait_for(
        self, n_scores: int, n_dead: int, timeout: float, workers=(), settle: float = 4.0
    ) -> None:
        """Poll until at least the expected counts arrived (or time out), then ``settle``
        seconds more so that duplicates, if any, have a chance to show up. ``settle=0`` for a
        wait in the middle of a run (the next step should land mid-run, and the last wait
        settles before the counts are checked)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll(1.0)
            if sum(self.scores.values()) >= n_scores and sum(self.dead.values()) >= n_dead:
                break
            for w in workers:
                assert w.poll() is None, f"a worker exited with {w.returncode}"
        self.poll(settle)

    def close(self) -> None:
        self._consumer.close()


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class ExpectedScores(dict):
    """``(event id, model) -> score`` computed offline, one per event and model that scores
    the event's entity kind; ``not_scored`` holds the workload's (event id, model) pairs that
    must get no result: the model does not score the event's kind (a host for a user model)."""

    def __init__(self, scores: dict, not_scored: set[tuple[str, str]]) -> None:
        super().__init__(scores)
        self.not_scored = frozenset(not_scored)


def offline_scores(d: Deployment, w: Workload) -> tuple[ExpectedScores, int]:
    """Scores of the workload's events computed offline, in production order; dead letters.

    Which (event, model) pairs get a result is also worked out from the workload alone and
    checked against the offline run: its activity events are users', its log lines hosts',
    and each model scores the entity kinds it declares (churn and upsell: users)."""
    models = load_model_set(d.settings)
    activity = [v for _, v in w.json_activity] + [arrow_payload(t) for t in w.arrow_tables]
    keys = [k for k, _ in w.json_activity] + [None] * len(w.arrow_tables)
    logs = records_from_values("raw-logs", [v for _, v in w.log_lines], [k for k, _ in w.log_lines])
    runs = [
        (BatchProcessor(models), records_from_values("activity", activity, keys)),
        (BatchProcessor(models, hosts_from_keys=True), logs),
        (BatchProcessor(models), records_from_values("junk", [v for _, v in w.malformed])),
    ]
    scores: dict[tuple[str, str], float] = {}
    dead = 0
    for proc, records in runs:
        out = proc.process(records, {})
        dead += len(out.dead_letters)
        for _, value in out.scores:
            r = decode_score_result(value)
            scores[(r["event_id"], r["model_name"])] = r["score"]
    hosts = [k.decode() for k in logs.keys]
    parsed = parse_batch(logs.values, "auto", FileOrigin("log lines", 1), hosts=hosts)
    assert not parsed.rejected, parsed.rejected[:3]
    events_of = {"user": list(w.event_ids), "host": parsed.events.column("event_id").to_pylist()}
    should, should_not = set(), set()
    for model in models.models:
        for kind, ids in events_of.items():
            (should if kind in model.entity_kinds else should_not).update(
                (eid, model.name) for eid in ids
            )
    assert set(scores) == should, (
        f"offline: {len(set(scores) - should)} results of events of a kind their model does not "
        f"score, {len(should - set(scores))} missing"
    )
    return ExpectedScores(scores, should_not), dead


def assert_exactly_once(reader: ResultReader, expected: dict, n_malformed: int, logs: str) -> None:
    """One result per event and model that scores the event's entity kind (``expected``), none
    for an event of a kind the model does not score, one dead letter per malformed record."""
    got = reader.scores
    missing = set(expected) - set(got)
    extra = set(got) - set(expected)
    dupes = {k: n for k, n in got.items() if n > 1}
    assert not missing, f"{len(missing)} results missing, e.g. {sorted(missing)[:3]}\n{logs}"
    wrong_kind = extra & getattr(expected, "not_scored", frozenset())
    assert not wrong_kind, (
        f"{len(wrong_kind)} results for events of an entity kind their model does not score, "
        f"e.g. {sorted(wrong_kind)[:3]}"
    )
    assert not extra, f"{len(extra)} unexpected results, e.g. {sorted(extra)[:3]}"
    assert not dupes, f"{len(dupes)} duplicated results, e.g. {list(dupes.items())[:3]}"
    assert sum(reader.dead.values()) == n_malformed == len(reader.dead), (
        f"dead letters: {sum(reader.dead.values())} for {len(reader.dead)} distinct records, "
        f"expected {n_malformed}: {reader.dead_reasons[:5]}"
    )
