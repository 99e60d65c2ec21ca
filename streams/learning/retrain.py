"""Retraining from the streams: collect snapshots and outcomes, train a challenger, gate it.

Ordering of one retrain of ``task`` (on the leader worker):

1. the :class:`StreamCollector` thread has been reading the ``features`` and ``outcomes``
   topics (read_committed, no consumer group) into memory, feeding the drift monitor;
2. :func:`build_sets` joins them point-in-time (:mod:`.join`) and splits by decision time:
   the most recent ``retrain_holdout`` share of labelled decisions is held out;
3. :func:`retrain_task` runs in a child process (TensorFlow off the worker's event loop and
   GIL): fit a challenger on the champion's feature pipeline, score the held-out rows with
   challenger *and* champion, :func:`gate`, register the challenger with the decision's status,
   record the decision and publish it on model-events (which makes every worker swap when it
   promoted).
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from models.dataset import LabelledSet
from streams.learning.join import Outcomes, Snapshots, point_in_time_join
from streams.settings import Settings

__all__ = [
    "GateDecision",
    "StreamCollector",
    "build_sets",
    "gate",
    "retrain_pool",
    "retrain_task",
]

_log = logging.getLogger(__name__)

SAMPLES_PER_LABEL = 3  # as models.training.TRAIN_SAMPLES_PER_LABEL


@dataclass(frozen=True)
class GateDecision:
    event: str  # promoted | shadow | discarded
    reason: str


def gate(
    champion: dict[str, float],
    challenger: dict[str, float],
    n_holdout: int,
    n_train: int,
    *,
    metric: str = "log_loss",
    margin: float,
    min_samples: int,
) -> GateDecision:
    """Judge a challenger against the champion on the same held-out rows.

    ``champion``/``challenger`` hold ``auc`` and ``log_loss``. The gain is measured on
    ``metric`` (AUC up, or log loss down). Promote when the gain is at least ``margin``, the
    other metric is not worse by more than ``margin``, and there were at least ``min_samples``
    held-out and training rows; keep it in shadow when it is no worse but not promotable (small
    gain or too few rows); otherwise discard it.
    """
    c_auc, n_auc = float(champion["auc"]), float(challenger["auc"])
    c_ll, n_ll = float(champion["log_loss"]), float(challenger["log_loss"])
    gain_auc, gain_ll = n_auc - c_auc, c_ll - n_ll  # > 0: the challenger is better
    gain, other = (gain_ll, gain_auc) if metric == "log_loss" else (gain_auc, gain_ll)
    desc = (
        f"challenger AUC {n_auc:.4f} vs champion {c_auc:.4f} ({gain_auc:+.4f}), log loss "
        f"{n_ll:.4f} vs {c_ll:.4f} ({-gain_ll:+.4f}); gate on {metric}, margin {margin:.4f}; "
        f"{n_holdout} held-out rows, {n_train} training rows"
    )
    if not (np.isfinite(n_auc) and np.isfinite(n_ll)):
        return GateDecision("discarded", f"challenger metrics undefined; {desc}")
    enough = n_holdout >= min_samples and n_train >= min_samples
    if enough and gain >= margin and other >= -margin:
        return GateDecision("promoted", f"better by the margin; {desc}")
    if gain >= 0 and other >= -margin:
        why = f"too few samples (need {min_samples})" if not enough else "not better by the margin"
        return GateDecision("shadow", f"{why}; {desc}")
    return GateDecision("discarded", f"worse than the champion; {desc}")


# -- collecting the streams ------------------------------------------------------------------


class StreamCollector:
    """A daemon thread reading feature snapshots and outcomes from the start of their topics,
    the snapshots of all partitions in the order of their timestamps
    (:class:`~streams.kafka.clients.TimeAligned`).

    Keeps at most ``retrain_max_rows`` snapshot rows (oldest dropped). Snapshots of another
    feature pipeline than the first seen (or the champion's) are skipped: a challenger is
    trained on the champion's features.
    """

    def __init__(self, settings: Settings, bootstrap: str, monitor=None) -> None:
        self._settings = settings
        self._bootstrap = bootstrap
        self._monitor = monitor
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._snap: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._snap_rows = 0
        self._out: list[dict] = []
        self.names: tuple[str, ...] = ()
        self.fingerprint = ""
        self._thread: threading.Thread | None = None
        self.records = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="retrain-collector", daemon=True)
        self._thread.start()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

        from streams.kafka.clients import TimeAligned, make_consumer
        from streams.topics import TOPICS, topic_name

        consumer = make_consumer(
            self._bootstrap,
            settings=self._settings,
            **{"fetch.message.max.bytes": 16 * 1024 * 1024, "enable.partition.eof": True},
        )
        feats = topic_name(self._settings, "features")
        outs = topic_name(self._settings, "outcomes")
        consumer.assign(
            [
                TopicPartition(feats, p, OFFSET_BEGINNING)
                for p in range(TOPICS["features"].partitions)
            ]
            + [
                TopicPartition(outs, p, OFFSET_BEGINNING)
                for p in range(TOPICS["outcomes"].partitions)
            ]
        )
        # Snapshots in the order the workers made them, not partition by partition as a
        # consumer that starts behind gets them: the drift monitor's windows are row counts.
        snapshots = TimeAligned(range(TOPICS["features"].partitions))
        try:
            while not self._stop.is_set():
                outcomes = []
                for m in consumer.consume(500, timeout=0.5):
                    if m.error() is None:
                        (snapshots.add if m.topic() == feats else outcomes.append)(m)
                    elif m.error().code() == KafkaError._PARTITION_EOF and m.topic() == feats:
                        snapshots.at_end(m.partition())
                for m in snapshots.release() + outcomes:
                    try:
                        if m.topic() == feats:
                            self._add_snapshot(m.value())
                        else:
                            self._add_outcome(m.value())
                        self.records += 1
                    except Exception as exc:
                        _log.warning("retrain collector skipped a %s record: %r", m.topic(), exc)
        finally:
            consumer.close()

    def _add_snapshot(self, raw: bytes) -> None:
        table = pa.ipc.open_stream(io.BytesIO(raw)).read_all()
        meta = table.schema.metadata or {}
        fingerprint = meta.get(b"fingerprint", b"").decode()
        names = tuple(json.loads(meta.get(b"feature_names", b"[]")))
        if not self.fingerprint:
            self.fingerprint, self.names = fingerprint, names
        if fingerprint != self.fingerprint or not len(table):
            return
        X = (
            table.column("features")
            .combine_chunks()
            .flatten()
            .to_numpy()
            .reshape(len(table), len(names))
            .astype(np.float32, copy=False)
        )
        entity = np.asarray(table.column("entity").to_pylist(), dtype=object)
        ts = table.column("ts_ms").to_numpy()
        scores = {
            c[len("score.") :]: table.column(c).to_numpy()
            for c in table.column_names
            if c.startswith("score.")
        }
        if self._monitor is not None:
            self._monitor.observe(X, names, scores)
        with self._lock:
            self._snap.append((entity, ts, X))
            self._snap_rows += len(ts)
            while (
                self._snap
                and self._snap_rows - len(self._snap[0][1]) >= self._settings.retrain_max_rows
            ):
                self._snap_rows -= len(self._snap.pop(0)[1])

    def _add_outcome(self, raw: bytes) -> None:
        d = json.loads(raw)
        row = {
            "task": str(d["task"]),
            "entity": str(d["entity"]),
            "decision_ts": int(d["decision_ts"]),
            "label_ts": int(d["label_ts"]),
            "label": int(d["label"]),
        }
        with self._lock:
            self._out.append(row)

    def data(self, task: str) -> tuple[Snapshots, Outcomes]:
        """What was collected so far: every snapshot row, and the outcomes of ``task``."""
        with self._lock:
            snap = list(self._snap)
            rows = [o for o in self._out if o["task"] == task]
        d = len(self.names)
        snaps = Snapshots(
            entity=np.concatenate([s[0] for s in snap]) if snap else np.zeros(0, object),
            ts_ms=np.concatenate([s[1] for s in snap]) if snap else np.zeros(0, np.int64),
            X=np.concatenate([s[2] for s in snap]) if snap else np.zeros((0, d), np.float32),
            names=self.names,
            fingerprint=self.fingerprint,
        )
        outcomes = Outcomes(
            entity=np.asarray([o["entity"] for o in rows], dtype=object),
            decision_ts=np.asarray([o["decision_ts"] for o in rows], dtype=np.int64),
            label_ts=np.asarray([o["label_ts"] for o in rows], dtype=np.int64),
            label=np.asarray([o["label"] for o in rows], dtype=np.int8),
        )
        return snaps, outcomes


# -- training sets -----------------------------------------------------------------------------


def build_sets(
    snaps: Snapshots, outcomes: Outcomes, *, holdout: float, seed: int = 0
) -> tuple[LabelledSet, LabelledSet]:
    """(train, held-out): the point-in-time join, split at the decision time below which
    ``1 - holdout`` of the labelled decisions fall. Training gets the as-of rows plus
    :data:`SAMPLES_PER_LABEL` sampled rows per label; the held-out set only as-of rows (the
    decision-time rows, as offline evaluation uses)."""
    joined = point_in_time_join(snaps, outcomes, samples_per_label=SAMPLES_PER_LABEL, seed=seed)
    as_of = joined.as_of
    if not len(as_of):
        return as_of, as_of
    cut = int(np.quantile(as_of.decision_ts_ms, 1.0 - holdout, method="lower"))
    held = as_of.take(np.flatnonzero(as_of.decision_ts_ms > cut))
    parts = [as_of, joined.sampled] if joined.sampled is not None else [as_of]
    train_parts = [p.take(np.flatnonzero(p.decision_ts_ms <= cut)) for p in parts]
    train = LabelledSet(
        X=np.concatenate([p.X for p in train_parts]),
        y=np.concatenate([p.y for p in train_parts]),
        true_p=np.concatenate([p.true_p for p in train_parts]),
        entity=np.concatenate([p.entity for p in train_parts]),
        decision_ts_ms=np.concatenate([p.decision_ts_ms for p in train_parts]),
        names=as_of.names,
        fingerprint=as_of.fingerprint,
    )
    return train, held


# -- one retrain (in a child process) ------------------------------------------------------------


def init_retrain_process(parent: int | None = None) -> None:
    """Initializer of the retraining child: lowest CPU priority (nice 19, and SCHED_IDLE where
    the OS has it) and one TensorFlow thread, so
    the scoring process keeps its cores (on a 2-core machine a retrain at full priority and
    full threads tripled the scoring p99), then TensorFlow imported ahead of the first retrain.
    The child ends itself when ``parent``, the worker that started it, is gone
    (:func:`_exit_with_parent`).
    """
    import contextlib

    from models._tf import tensorflow

    if parent is not None:
        _exit_with_parent(parent)
    with contextlib.suppress(OSError):  # nice is not allowed everywhere
        os.nice(19)
    # Linux: SCHED_IDLE runs the child only on otherwise idle CPU time, below even nice 19.
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    tensorflow(threads=1)


def _exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """A daemon thread that ends this process once ``parent`` is no longer its parent.

    A worker killed with SIGKILL (or dying from the OOM killer) cannot shut its pool down, and
    its retraining child, reparented, went on: one from an earlier test run lived two hours
    here, a TensorFlow process holding CPU and memory. (``PR_SET_PDEATHSIG`` would fire when the
    thread that spawned the child ends, not the worker.)"""

    def watch() -> None:  # already reparented when the worker died while this one started
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def retrain_pool():
    """One spawned child for retraining (a fork of a worker would inherit its Kafka clients and
    event loop), set up by :func:`init_retrain_process`."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_retrain_process,
        initargs=(os.getpid(),),
    )


def retrain_task(
    settings: Settings,
    task: str,
    train: LabelledSet,
    holdout: LabelledSet,
    *,
    shuffle_labels: bool = False,
    publish: bool = True,
    trigger: str = "timer",
) -> dict[str, Any]:
    """Train a challenger for ``task`` on ``train``, judge it against the current champion on
    ``holdout``, register it with the gate's verdict and publish the decision.

    ``shuffle_labels`` trains on permuted labels: a deliberately worse challenger (tests).
    Returns the decision (what was published, without the artifact).
    """
    from models.evaluation import evaluate
    from models.registry import ModelRegistry
    from models.training import drift_reference, fit_and_evaluate
    from streams.learning.events import champion_event, publish_event

    registry = ModelRegistry.from_settings(settings)
    champ = registry.champion(task)
    if champ is None:
        raise ValueError(f"retraining {task}: expected a champion in {registry.root}, found none")
    if train.fingerprint != champ.fingerprint:
        raise ValueError(
            f"retraining {task}: snapshots come from pipeline {train.fingerprint[:12]}, the "
            f"champion {champ.version} from {champ.fingerprint[:12]}"
        )
    if shuffle_labels:
        train = LabelledSet(
            train.X,
            np.random.default_rng(1).permutation(train.y),
            train.true_p,
            train.entity,
            train.decision_ts_ms,
            train.names,
            train.fingerprint,
        )
    started = time.time()
    kind = champ.kind if champ.kind in ("mlp", "logistic") else "mlp"
    params = {"epochs": settings.retrain_epochs} if kind == "mlp" else None
    # The challenger scores what its champion scores (the entity kinds are the task's).
    out = fit_and_evaluate(
        train, holdout, kind=kind, params=params, entity_kinds=champ.entity_kinds
    )
    champion_model = registry.load(task, champ.version, fingerprint=champ.fingerprint)
    champ_metrics = evaluate(holdout.y, champion_model.score(holdout.X, holdout.names))
    chall_metrics = out.metrics["model"]
    decision = gate(
        champ_metrics,
        chall_metrics,
        len(holdout),
        len(train),
        metric=settings.promote_metric,
        margin=settings.promote_margin,
        min_samples=settings.retrain_min_samples,
    )
    status = {"promoted": "champion", "shadow": "challenger"}.get(decision.event, "retired")
    info = registry.register(
        task,
        out.model,
        baseline=out.baseline,
        pipeline=registry.load_pipeline(task, champ.version),
        train_range={**train.time_range(), "source": "streams"},
        metrics={
            **out.metrics,
            "champion_on_holdout": champ_metrics,
            "fit": {"epochs": out.report.epochs, "seconds": time.time() - started},
        },
        parent=champ.version,
        status=status,
        drift_reference=drift_reference(out.model, train),
    )
    event = champion_event(
        registry,
        task,
        decision.event,
        info.version,
        metrics={
            "challenger": chall_metrics,
            "champion": champ_metrics,
            "champion_version": champ.version,
        },
        samples={
            "train": len(train),
            "holdout": len(holdout),
            "positives_holdout": int(holdout.y.sum()),
        },
        reason=f"{decision.reason}; trigger {trigger}",
    )
    if publish:
        publish_event(settings, event)
    else:
        registry.record_decision(task, event.summary())
    _log.warning("retrain %s: %s %s (%s)", task, decision.event, info.version, decision.reason)
    return event.summary()
