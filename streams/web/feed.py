"""What feeds the GUI: the output topics, the worker group's lag, the registry, worker metrics.

:class:`Feed` runs one background thread that, in a loop:

1. consumes committed records (read_committed) of the scores, dead-letters and model-events
   topics, decodes each batch at once and adds it to the :class:`~streams.web.live.LiveState`;
2. every :data:`PROBE_INTERVAL_S` seconds, reads the committed offsets of the worker consumer
   groups (``<prefix>worker.*``) and the input partitions' high watermarks (the lag), the local
   model registry, and scrapes the workers' ``/metrics`` (latency, drift) when URLs are given.

Scores and dead letters are read from a recent tail (the last :data:`TAIL_RECORDS` of each
partition at start), model events from the beginning (the topic is compacted: one per model).
A Kafka error (a partition of a topic created a moment ago that has no leader yet, a broker
restart) does not end the thread: the page shows it (``feed_error``) and it is retried.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import urllib.request
import uuid
from collections.abc import Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client.parser import text_string_to_metric_families

from schemas import decode_dead_letter, decode_score_results
from streams.kafka.clients import list_metadata, make_admin, make_consumer
from streams.settings import Settings
from streams.topics import TOPICS, topic_name
from streams.web.live import LiveState

__all__ = ["Feed", "PROBE_INTERVAL_S", "TAIL_RECORDS"]

_log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 2.0
TAIL_RECORDS = 500
_INPUTS = ("activity", "raw-logs")


class Feed:
    """The GUI's Kafka reader and probes, in one daemon thread (see the module docstring).

    ``metrics_urls`` are worker ``/metrics`` addresses to scrape (the web token, if set, is
    sent as a bearer token).
    """

    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        state: LiveState,
        metrics_urls: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.state = state
        self.metrics_urls = list(metrics_urls)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gui-feed", daemon=True)
        self._topics = {key: topic_name(settings, key) for key in TOPICS}

    def start(self) -> Feed:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    # --- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        """The loop. A Kafka error (a partition without a leader yet, a broker restarting)
        is shown on the page and retried a second later: the thread ends only on stop()."""
        # read_committed, from the earliest offset, never commits
        consumer = make_consumer(
            self.bootstrap, f"streamscore-gui-{uuid.uuid4().hex[:12]}", settings=self.settings
        )
        admin = make_admin(self.bootstrap, self.settings)
        assigned = False
        next_probe = 0.0
        try:
            while not self._stop.is_set():
                try:
                    if not assigned:
                        assigned = self._assign(consumer, admin)
                    if time.monotonic() >= next_probe:
                        next_probe = time.monotonic() + PROBE_INTERVAL_S
                        self._probe(admin, consumer)
                    if not assigned:
                        self._stop.wait(1.0)
                        continue
                    msgs = consumer.consume(5000, timeout=0.25)
                    self._ingest([m for m in msgs if m.error() is None])
                    self.state.set_feed_error(None)
                except Exception as exc:
                    _log.warning("the GUI feed failed, retrying in 1 s: %r", exc)
                    self.state.set_feed_error(f"{type(exc).__name__}: {exc}"[:300])
                    self._stop.wait(1.0)
        finally:
            consumer.close()

    def _assign(self, consumer: Consumer, admin: AdminClient) -> bool:
        """Assign every partition of the three topics: a recent tail of scores and dead
        letters, all model events. False while a topic does not exist yet or a partition has
        no leader yet (just created); raises on other Kafka errors (the caller retries)."""
        meta = list_metadata(admin, self.settings, 10)  # refused credentials: KafkaAuthError
        tps = []
        for key in ("scores", "dead-letters", "model-events"):
            topic = meta.topics.get(self._topics[key])
            if topic is None or topic.error is not None:
                return False
            for p, part in topic.partitions.items():
                if part.error is not None or part.leader < 0:
                    return False
                if key == "model-events":
                    tps.append(TopicPartition(self._topics[key], p, OFFSET_BEGINNING))
                    continue
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(self._topics[key], p), timeout=10
                )
                tps.append(TopicPartition(self._topics[key], p, max(low, high - TAIL_RECORDS)))
        consumer.assign(tps)
        return True

    def _ingest(self, msgs: list) -> None:
        scores = [m.value() for m in msgs if m.topic() == self._topics["scores"]]
        if scores:
            try:
                self.state.add_scores(decode_score_results(scores))
            except Exception as exc:
                _log.warning("undecodable score records skipped: %r", exc)
        letters = []
        for m in msgs:
            if m.topic() == self._topics["dead-letters"]:
                try:
                    letters.append(decode_dead_letter(m.value()))
                except Exception as exc:
                    _log.warning("undecodable dead letter skipped: %r", exc)
            elif m.topic() == self._topics["model-events"]:
                self.state.add_model_event(m.key(), m.value())
        self.state.add_dead_letters(letters)

    def _probe(self, admin: AdminClient, consumer: Consumer) -> None:
        for probe in (self._probe_lag, self._probe_registry, self._probe_workers):
            try:
                probe(admin, consumer)
            except Exception as exc:
                _log.debug("GUI probe %s failed: %r", probe.__name__, exc)

    def _probe_lag(self, admin: AdminClient, consumer: Consumer) -> None:
        """Per input partition and worker group: high watermark minus committed offset."""
        from confluent_kafka import ConsumerGroupTopicPartitions

        prefix = f"{self.settings.topic_prefix}worker."
        listed = admin.list_consumer_groups(request_timeout=10).result()
        groups = sorted(g.group_id for g in listed.valid if g.group_id.startswith(prefix))
        inputs = {self._topics[k] for k in _INPUTS}
        rows = []
        highs: dict[tuple[str, int], int] = {}
        for group in groups:
            futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
            committed = futures[group].result(timeout=10).topic_partitions or []
            for tp in committed:
                if tp.topic not in inputs or tp.offset < 0:
                    continue
                key = (tp.topic, tp.partition)
                if key not in highs:
                    _, highs[key] = consumer.get_watermark_offsets(
                        TopicPartition(tp.topic, tp.partition), timeout=5, cached=False
                    )
                rows.append(
                    {
                        "group": group,
                        "topic": tp.topic,
                        "partition": tp.partition,
                        "committed": tp.offset,
                        "end": highs[key],
                        "lag": max(0, highs[key] - tp.offset),
                    }
                )
        rows.sort(key=lambda r: (r["group"], r["topic"], r["partition"]))
        error = None if groups else f"no consumer group {prefix}* has committed offsets yet"
        self.state.set_lag(rows, error)

    def _probe_registry(self, admin: AdminClient, consumer: Consumer) -> None:
        from models.registry import TASKS, ModelRegistry

        registry = ModelRegistry.from_settings(self.settings)
        rows = []
        for task in TASKS:
            versions = registry.versions(task) if (registry.root / task).exists() else []
            champion = registry.champion(task) if versions else None
            rows.append(
                {
                    "task": task,
                    "champion": champion.version if champion else None,
                    "kind": champion.kind if champion else None,
                    "challengers": [v.version for v in versions if v.status == "challenger"],
                    "versions": len(versions),
                    "metrics": _short_metrics(champion.metrics) if champion else {},
                }
            )
        self.state.set_registry(rows)

    def _probe_workers(self, admin: AdminClient, consumer: Consumer) -> None:
        if not self.metrics_urls:
            return
        token = self.settings.web_token
        workers, samples = [], []
        for url in self.metrics_urls:
            request = urllib.request.Request(url)
            if token is not None:
                request.add_header("Authorization", f"Bearer {token.get_secret_value()}")
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    text = response.read().decode()
            except Exception as exc:
                workers.append({"url": url, "up": False, "error": str(exc)[:200]})
                continue
            workers.append({"url": url, "up": True, "error": None})
            for family in text_string_to_metric_families(text):
                samples += [(s.name, s.labels, s.value) for s in family.samples]
        self.state.set_worker_metrics(workers, samples)


def _short_metrics(metrics: dict) -> dict:
    """The scalar held-out metrics of a version (AUC, log loss, ...), rounded; those of the
    model itself when the manifest nests them (``{"model": {...}, "baseline": {...}}``)."""
    metrics = metrics or {}
    if isinstance(metrics.get("model"), dict):
        metrics = metrics["model"]
    out = {}
    for k, v in metrics.items():
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            out[k] = round(float(v), 4)
    return dict(list(out.items())[:6])
