"""The built-in feature specs: user activity (churn and upsell signals) and machine logs."""

from __future__ import annotations

from typing import Literal

from schemas.events import ACTIVITY_TYPES, SourceFormat
from streams.features.errors import FeatureSpecError
from streams.features.spec import (
    FeatureSpec,
    FilterStep,
    HashedStep,
    NormaliseStep,
    NumericStep,
    OneHotStep,
    PropertyStep,
    TimeStep,
    TokensStep,
    WindowStep,
)

__all__ = ["activity_spec", "default_spec", "logs_spec", "serving_spec"]

HOUR = 3600.0
DAY = 24 * HOUR
LOG_SOURCES = tuple(s.value for s in SourceFormat if s is not SourceFormat.ACTIVITY)
SEVERITIES = tuple(str(level) for level in range(8))  # syslog 0 = emergency .. 7 = debug


def default_spec(kind: Literal["activity", "logs", "serving"] = "activity") -> FeatureSpec:
    """The built-in spec for user activity (churn/upsell), for machine logs, or the
    serving spec the stream workers score every event with (activity features, no filter).
    """
    specs = {"activity": activity_spec, "logs": logs_spec, "serving": serving_spec}
    if kind not in specs:
        raise FeatureSpecError(f"default feature spec: expected one of {list(specs)}, got {kind!r}")
    return specs[kind]()


def activity_spec() -> FeatureSpec:
    """Activity events: what a churn or upsell model needs to know about a user right now.

    Counts and amounts per activity type over 1h/1d/7d/30d (engagement trend, payment failures,
    support tickets, offers shown/accepted/declined), decayed rates (1d, 7d half-lives),
    recency of every type (since last login, purchase, offer...), sessions, tenure, the plan
    and purchase amount from ``properties``, and time of day/week.
    """
    return FeatureSpec(
        name="activity-default",
        steps=(
            FilterStep(column="source", keep=(SourceFormat.ACTIVITY.value,)),
            PropertyStep(key="plan", name="plan"),
            PropertyStep(key="amount", name="amount", to="float64"),
            TimeStep(),
            OneHotStep(column="event_type", categories=ACTIVITY_TYPES),
            HashedStep(column="plan", bits=4, seed=1),
            NumericStep(column="amount", log1p=True),
            WindowStep(
                types=ACTIVITY_TYPES,
                value_column="amount",
                horizons_s=(HOUR, DAY, 7 * DAY, 30 * DAY),
                halflives_s=(DAY, 7 * DAY),
                session_gap_s=30 * 60.0,
                recency_cap_s=90 * DAY,
            ),
            NormaliseStep(method="minmax", columns=("win.*.recency_h", "win.since_prev_h")),
            NormaliseStep(method="standard", columns=("win.*", "amount*")),
        ),
    )


def logs_spec() -> FeatureSpec:
    """Machine logs, per host: source, severity, program and message tokens, and per-host
    bursts of each severity over 5 min/1 h/1 d (error storms, a host gone quiet)."""
    return FeatureSpec(
        name="logs-default",
        steps=(
            FilterStep(column="source", keep=LOG_SOURCES),
            TimeStep(),
            OneHotStep(column="source", categories=LOG_SOURCES),
            OneHotStep(column="severity", categories=SEVERITIES),
            HashedStep(column="program", bits=6, seed=2),
            HashedStep(column="action", bits=3, seed=4),
            TokensStep(column="message", bits=8, seed=3, log1p=True),
            WindowStep(
                type_column="severity",
                types=SEVERITIES,
                horizons_s=(300.0, HOUR, DAY),
                halflives_s=(HOUR,),
                session_gap_s=600.0,
                recency_cap_s=7 * DAY,
            ),
            NormaliseStep(method="minmax", columns=("win.*.recency_h", "win.since_prev_h")),
            NormaliseStep(method="standard", columns=("win.*",)),
        ),
    )


def serving_spec() -> FeatureSpec:
    """What the stream workers score with: the activity features, without the source filter.

    A worker must give every valid event a score from every model, machine-log events
    included. Their entity is a host, their type (``log``) is no activity type, so they add to
    no activity window and read the host's (empty) activity state: a host is scored as an
    entity with no user activity. Fit it on activity events only (see
    ``models.training.fit_pipeline``) so hosts do not move the normaliser statistics.
    """
    spec = activity_spec()
    steps = tuple(step for step in spec.steps if not isinstance(step, FilterStep))
    return spec.model_copy(update={"name": "serving-default", "steps": steps})
