"""Point-in-time join (no leakage, no false negatives), the gate, and model-event round trips."""

from __future__ import annotations

import numpy as np

from streams.learning.events import ModelEvent
from streams.learning.join import DAY_MS, Outcomes, Snapshots, point_in_time_join
from streams.learning.retrain import build_sets, gate

H = 3_600_000


def snaps(rows: list[tuple[str, int, float]]) -> Snapshots:
    return Snapshots(
        entity=np.array([r[0] for r in rows], dtype=object),
        ts_ms=np.array([r[1] for r in rows], dtype=np.int64),
        X=np.array([[r[2]] for r in rows], dtype=np.float32),
        names=("f",),
        fingerprint="fp",
    )


def outcomes(rows: list[tuple[str, int, int, int]]) -> Outcomes:
    return Outcomes(
        entity=np.array([r[0] for r in rows], dtype=object),
        decision_ts=np.array([r[1] for r in rows], dtype=np.int64),
        label_ts=np.array([r[2] for r in rows], dtype=np.int64),
        label=np.array([r[3] for r in rows], dtype=np.int8),
    )


def test_as_of_row_is_the_last_one_strictly_before_the_decision() -> None:
    t = 100 * DAY_MS
    s = snaps(
        [
            ("a", t - 5 * H, 1.0),
            ("a", t - 1 * H, 2.0),  # the as-of row of a's decision at t
            ("a", t, 99.0),  # at the decision: would leak
            ("a", t + 2 * H, 98.0),  # after it: would leak
            ("b", t - 2 * H, 3.0),
            ("b", t + 1 * H, 97.0),
        ]
    )
    o = outcomes([("a", t, t + 3 * DAY_MS, 1), ("b", t + 2 * H, t + 2 * H + DAY_MS, 0)])
    j = point_in_time_join(s, o)
    assert j.as_of.X[:, 0].tolist() == [2.0, 97.0]
    assert j.as_of.y.tolist() == [1, 0]
    assert j.dropped_no_row == 0


def test_no_row_before_the_decision_or_a_malformed_label_is_dropped_not_guessed() -> None:
    t = 100 * DAY_MS
    s = snaps([("a", t + H, 1.0), ("b", t - 8 * DAY_MS, 2.0), ("c", t - H, 3.0)])
    o = outcomes(
        [
            ("a", t, t + DAY_MS, 1),  # only a row after the decision
            ("b", t, t + DAY_MS, 1),  # only a row older than the window
            ("c", t, t - DAY_MS, 1),  # label before the decision: malformed
            ("c", t, t + 8 * DAY_MS, 1),  # label after the horizon: malformed
            ("z", t, t + DAY_MS, 0),  # unknown entity
        ]
    )
    j = point_in_time_join(s, o)
    assert len(j.as_of) == 0
    assert j.dropped_malformed == 2
    assert j.dropped_no_row == 3


def test_rows_without_an_outcome_yet_get_no_label() -> None:
    t = 100 * DAY_MS
    s = snaps([("a", t - H, 1.0), ("b", t - H, 2.0), ("b", t + 5 * DAY_MS, 3.0)])
    j = point_in_time_join(s, outcomes([("a", t, t + DAY_MS, 0)]))
    assert j.as_of.entity.tolist() == ["a"]  # b's rows are not negatives: no outcome arrived


def test_sampled_rows_come_from_the_window_before_the_decision() -> None:
    t = 100 * DAY_MS
    rows = [("a", t - k * H, float(k)) for k in range(1, 30)] + [("a", t + H, -1.0)]
    j = point_in_time_join(snaps(rows), outcomes([("a", t, t + DAY_MS, 1)]), samples_per_label=50)
    assert j.sampled is not None and len(j.sampled) == 50
    assert (j.sampled.X[:, 0] >= 1).all()  # never the row after the decision
    assert len(set(j.sampled.X[:, 0].tolist())) > 5


def test_build_sets_holds_out_the_latest_decisions() -> None:
    t = 100 * DAY_MS
    rows, outs = [], []
    for u in range(100):
        rows.append((f"u{u}", t + u * H - 1, float(u)))
        outs.append((f"u{u}", t + u * H, t + u * H + DAY_MS, u % 2))
    train, held = build_sets(snaps(rows), outcomes(outs), holdout=0.3)
    assert len(held) == 30  # decisions after the 70% quantile; the cut row trains
    assert held.decision_ts_ms.min() > train.decision_ts_ms.max()
    assert len(train) == 4 * (100 - len(held))  # as-of + 3 sampled rows per label


def m(auc: float, ll: float) -> dict[str, float]:
    return {"auc": auc, "log_loss": ll}


def test_gate_promotes_only_by_the_margin_on_enough_samples() -> None:
    kw = {"margin": 0.01, "min_samples": 100}
    champ = m(0.70, 0.60)
    assert gate(champ, m(0.71, 0.55), 500, 2000, **kw).event == "promoted"
    assert gate(champ, m(0.70, 0.595), 500, 2000, **kw).event == "shadow"  # gain < margin
    assert gate(champ, m(0.71, 0.55), 50, 2000, **kw).event == "shadow"  # too few rows
    assert gate(champ, m(0.60, 0.55), 500, 2000, **kw).event == "discarded"  # ranks worse
    worse = gate(champ, m(0.55, 0.66), 500, 2000, **kw)
    assert worse.event == "discarded"
    assert "worse" in worse.reason and "500 held-out" in worse.reason
    assert gate(champ, m(float("nan"), 0.5), 500, 2000, **kw).event == "discarded"
    by_auc = {"metric": "auc", **kw}
    assert gate(champ, m(0.75, 0.605), 500, 2000, **by_auc).event == "promoted"
    assert gate(champ, m(0.705, 0.50), 500, 2000, **by_auc).event == "shadow"


def test_model_event_round_trip_keeps_the_artifact() -> None:
    ev = ModelEvent(
        "churn",
        "promoted",
        "v0002",
        "v0002",
        parent="v0001",
        metrics={"auc": 0.8},
        samples={"holdout": 10},
        reason="r",
        artifact=b"\x00tar\xff",
    )
    back = ModelEvent.from_json(ev.to_json())
    assert back == ev
    assert "artifact" not in back.summary()
