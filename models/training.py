"""Train a task end to end: features -> labelled set -> model + baseline -> held-out metrics
-> registry version."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from models.contract import DEFAULT_ENTITY_KINDS, FitReport, ScoringModel, check_entity_kinds
from models.dataset import LabelledSet, build_labelled_set, held_out
from models.evaluation import evaluate
from models.kinds import ModelKind, new_model
from models.logistic import LogisticModel

__all__ = ["TrainOutcome", "fit_and_evaluate", "fit_pipeline", "train_task"]


@dataclass
class TrainOutcome:
    model: ScoringModel
    baseline: ScoringModel
    report: FitReport
    metrics: dict[str, Any]  # {"model": {...}, "baseline": {...}} on the held-out set
    train: LabelledSet
    holdout: LabelledSet
    version: Any = None  # VersionInfo when registered


def fit_pipeline(events: pa.Table, *, holdout: float = 0.0, seed: int = 0):
    """Fit the serving feature pipeline (the activity features, applied to every event) on the
    activity ``events``, leaving out the events of the entities :func:`~models.dataset.held_out`
    puts in the held-out population (so normaliser statistics never see held-out users)."""
    from streams.features import FeaturePipeline, default_spec

    events = events.filter(pa.compute.equal(events["source"], "activity"))
    if holdout > 0:
        events = events.filter(
            pa.array(~held_out(events["entity"].to_numpy(zero_copy_only=False), holdout, seed))
        )
    return FeaturePipeline(default_spec("serving")).fit(events)


def _metrics(s: LabelledSet, p: np.ndarray) -> dict[str, Any]:
    true_p = s.true_p if np.isfinite(s.true_p).all() else None
    return evaluate(s.y, p, true_p)


def fit_and_evaluate(
    train: LabelledSet,
    holdout: LabelledSet,
    *,
    kind: ModelKind = "mlp",
    params: dict[str, Any] | None = None,
    progress: bool = False,
    entity_kinds: Sequence[str] = DEFAULT_ENTITY_KINDS,
) -> TrainOutcome:
    """Fit a model of ``kind`` and the logistic baseline on ``train``; metrics on ``holdout``.
    Both declare that they score ``entity_kinds`` (:class:`~schemas.events.EntityKind` names).

    Early stopping watches a validation split of ``train`` made by entity (10% of users):
    ``train`` may hold several sampled rows per label, and a row-wise split would validate on
    near-copies of training rows and never stop."""
    kinds = check_entity_kinds(list(entity_kinds), "training entity kinds")
    model = new_model(kind, params)
    model.entity_kinds = kinds
    if hasattr(model, "progress"):
        model.progress = progress
    fit_part, val_part = train.split_by_entity(0.1, seed=VALIDATION_SEED)
    report = model.fit(
        fit_part.X,
        fit_part.y,
        names=train.names,
        fingerprint=train.fingerprint,
        X_val=val_part.X,
        y_val=val_part.y,
    )
    baseline = LogisticModel()
    baseline.entity_kinds = kinds
    baseline.fit(train.X, train.y, names=train.names, fingerprint=train.fingerprint)
    metrics = {
        "model": _metrics(holdout, model.score(holdout.X, holdout.names)),
        "baseline": _metrics(holdout, baseline.score(holdout.X, holdout.names)),
    }
    return TrainOutcome(model, baseline, report, metrics, train, holdout)


def drift_reference(model: ScoringModel, train: LabelledSet, rows: int = 50_000) -> dict:
    """Feature and score histograms of (up to ``rows`` of) the training rows, the reference
    that drift on the stream is measured against (see :mod:`kernels.drift`)."""
    from kernels.drift import make_reference

    take = np.random.default_rng(0).permutation(len(train))[:rows]
    X = train.X[take]
    return make_reference(X, model.score(X, train.names))


VALIDATION_SEED = 7  # salt of the validation users; independent of the held-out split
TRAIN_SAMPLES_PER_LABEL = 3
"""Training rows per label besides the as-of row (see :func:`build_labelled_set`): the model
then learns on rows like those it scores online, after any event, not only last rows."""


def train_task(
    task: str,
    events: pa.Table,
    labels: pa.Table,
    *,
    kind: ModelKind = "mlp",
    params: dict[str, Any] | None = None,
    pipeline=None,
    holdout: float = 0.2,
    seed: int = 0,
    registry=None,
    promote: bool | None = None,
    progress: bool = False,
    build=build_labelled_set,  # the point-in-time join (Spark's for big data)
    entity_kinds: Sequence[str] = DEFAULT_ENTITY_KINDS,
) -> TrainOutcome:
    """Train ``task`` on simulated or recorded ``events``/``labels``.

    Users are split into training and held-out populations (``holdout`` share, by
    :func:`~models.dataset.held_out`); the feature pipeline, unless given, is fitted on the
    training users' events only. The model trains on as-of plus sampled rows
    (:data:`TRAIN_SAMPLES_PER_LABEL`) and is judged on the held-out users' as-of rows. With a
    ``registry`` the result becomes a new
    version whose parent is the current champion; ``promote=None`` promotes it only when the
    task has no champion yet. ``build`` makes the labelled sets (default
    :func:`~models.dataset.build_labelled_set`; ``streams.spark.train`` passes Spark's, with
    ``events``/``labels`` as Spark DataFrames). The model and its baseline declare that they
    score ``entity_kinds`` (default: users; the pipeline scores no other events with them).
    """
    pipeline = pipeline or fit_pipeline(events, holdout=holdout, seed=seed)
    sampled = build(
        pipeline,
        events,
        labels,
        task=task,
        progress=progress,
        samples_per_label=TRAIN_SAMPLES_PER_LABEL,
        seed=seed,
    )
    as_of = build(pipeline, events, labels, task=task, progress=progress)
    train, _ = sampled.split_by_entity(holdout, seed)
    _, held = as_of.split_by_entity(holdout, seed)  # judged on the decision-time rows
    out = fit_and_evaluate(
        train, held, kind=kind, params=params, progress=progress, entity_kinds=entity_kinds
    )
    if registry is not None:
        champ = registry.champion(task)
        do_promote = champ is None if promote is None else promote
        out.version = registry.register(
            task,
            out.model,
            baseline=out.baseline,
            pipeline=pipeline,
            train_range=train.time_range(),
            metrics={
                **out.metrics,
                "fit": {"epochs": out.report.epochs, "best_val_loss": out.report.best_val_loss},
            },
            parent=None if champ is None else champ.version,
            status="champion" if do_promote else "challenger",
            drift_reference=drift_reference(out.model, train),
        )
    return out
