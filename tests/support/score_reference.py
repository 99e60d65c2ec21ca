"""Slow, obvious reference codecs built on the flatc-generated code, plus random test columns.

The fast codecs in :mod:`schemas.codec` are checked against these; the codec benchmark uses the
encoder as its "naive per-field builder loop" baseline.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import flatbuffers
import numpy as np

from schemas.columns import ScoreColumns
from schemas.generated import scores_generated as sr

_ALPHABET = list('abcXYZ019-_ üé漢字😀"\\\n\x00')


def random_text(rng: np.random.Generator, n: int, max_len: int = 24) -> list[str]:
    """``n`` strings mixing ASCII, multi-byte UTF-8, emoji, quotes, escapes and NUL."""
    lengths = rng.integers(0, max_len + 1, n)
    picks = rng.integers(0, len(_ALPHABET), int(lengths.sum()))
    out, at = [], 0
    for length in lengths.tolist():
        out.append("".join(_ALPHABET[i] for i in picks[at : at + length]))
        at += length
    return out


def random_columns(rng: np.random.Generator, n: int) -> ScoreColumns:
    score = rng.random(n).astype(np.float32)
    if n > 3:
        score[:3] = [np.nan, 0.0, 1.0]
    return ScoreColumns(
        model_name="churn",
        model_version="7",
        event_id=[f"evt-{i:08d}" for i in rng.integers(0, 10**8, n)],
        entity=random_text(rng, n),
        score=score,
        decision=score >= 0.5,
        fallback=rng.random(n) < 0.1,
        served_by=np.where(rng.random(n) < 0.1, "baseline", "churn@7").astype(object),
        event_time_ms=rng.integers(-(2**62), 2**62, n),
        scored_time_ms=rng.integers(1_700_000_000_000, 1_800_000_000_000, n),
    )


def one_server_columns(rng: np.random.Generator, n: int) -> ScoreColumns:
    """:func:`random_columns` served by one model throughout (a ScoreBatch then stores the
    ``served_by`` string once)."""
    cols = random_columns(rng, n)
    return replace(cols, served_by=["churn@7-\u00e9t\u00e9"] * n)


def encode_score_results_naive(columns: ScoreColumns) -> list[bytes]:
    """One ScoreResult per event, field by field through the generated builder functions."""
    builder = flatbuffers.Builder(256)
    out = []
    event_id, entity, served_by = (
        list(columns.event_id),
        list(columns.entity),
        list(columns.served_by),
    )
    score, decision, fallback = (
        columns.score.tolist(),
        columns.decision.tolist(),
        columns.fallback.tolist(),
    )
    event_time, scored_time = columns.event_time_ms.tolist(), columns.scored_time_ms.tolist()
    for i in range(len(columns)):
        builder.Clear()
        eid = builder.CreateString(event_id[i])
        ent = builder.CreateString(entity[i])
        name = builder.CreateString(columns.model_name)
        version = builder.CreateString(columns.model_version)
        served = builder.CreateString(served_by[i])
        sr.ScoreResultStart(builder)
        sr.ScoreResultAddEventId(builder, eid)
        sr.ScoreResultAddEntity(builder, ent)
        sr.ScoreResultAddModelName(builder, name)
        sr.ScoreResultAddModelVersion(builder, version)
        sr.ScoreResultAddScore(builder, score[i])
        sr.ScoreResultAddDecision(builder, decision[i])
        sr.ScoreResultAddFallback(builder, fallback[i])
        sr.ScoreResultAddServedBy(builder, served)
        sr.ScoreResultAddEventTimeMs(builder, event_time[i])
        sr.ScoreResultAddScoredTimeMs(builder, scored_time[i])
        builder.Finish(sr.ScoreResultEnd(builder), file_identifier=b"SSR1")
        out.append(bytes(builder.Output()))
    return out


def decode_score_result_naive(buffer: bytes) -> dict[str, Any]:
    """One ScoreResult through the generated reader."""
    r = sr.ScoreResult.GetRootAs(buffer, 0)

    def text(raw: bytes | None) -> str | None:
        return None if raw is None else raw.decode("utf-8")

    return {
        "event_id": text(r.EventId()),
        "entity": text(r.Entity()),
        "model_name": text(r.ModelName()),
        "model_version": text(r.ModelVersion()),
        "score": np.float32(r.Score()),
        "decision": bool(r.Decision()),
        "fallback": bool(r.Fallback()),
        "served_by": text(r.ServedBy()),
        "event_time_ms": r.EventTimeMs(),
        "scored_time_ms": r.ScoredTimeMs(),
    }
