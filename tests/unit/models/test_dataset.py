"""Labelled sets: the as-of join takes the entity's last feature row strictly before the
decision, whatever the chunking, and nothing at or after the decision leaks in."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from models.dataset import build_labelled_set


def _brute_force(fitted, events, labels):
    fb = fitted.transform(events, fitted.new_state())
    ent = np.asarray(fb.entity.to_pylist(), dtype=object)
    out = []
    for e, d in zip(
        labels["entity"].to_pylist(), labels["decision_ts_ms"].to_pylist(), strict=True
    ):
        rows = np.flatnonzero((ent == e) & (fb.ts_ms < d))
        out.append(fb.X[rows[-1]] if len(rows) else None)
    return out


def test_as_of_join_matches_brute_force_for_any_chunking(small_sim, fitted_pipeline):
    labels = small_sim.task_labels("upsell").slice(0, 60)
    users = pc.unique(labels["entity"])
    events = small_sim.events.filter(pc.is_in(small_sim.events["entity"], value_set=users))
    expected = _brute_force(fitted_pipeline, events, labels)
    for chunk in (997, 1 << 20):
        got = build_labelled_set(fitted_pipeline, events, labels, chunk_rows=chunk)
        keep = [x is not None for x in expected]
        assert len(got) == sum(keep) and got.dropped == len(keep) - sum(keep)
        np.testing.assert_array_equal(got.X, np.stack([x for x in expected if x is not None]))
        np.testing.assert_array_equal(got.y, labels["label"].to_numpy()[keep])


def test_events_at_or_after_the_decision_do_not_change_features(small_sim, fitted_pipeline):
    labels = small_sim.task_labels("churn").slice(0, 20)
    base = build_labelled_set(fitted_pipeline, small_sim.events, labels)
    # A burst of purchases at exactly each decision time: must not leak into the features.
    n = labels.num_rows
    extra = pa.table(
        {
            "event_id": [f"leak-{i}" for i in range(n)],
            "ts_ms": labels["decision_ts_ms"],
            "entity": labels["entity"],
            "source": ["activity"] * n,
            "event_type": ["purchase"] * n,
            "user_id": labels["entity"],
            "properties": ['{"amount":999.0}'] * n,
        }
    )
    cols = {
        f.name: extra[f.name].cast(f.type) if f.name in extra.column_names else pa.nulls(n, f.type)
        for f in small_sim.events.schema
    }
    ev = pa.concat_tables([small_sim.events, pa.table(cols, schema=small_sim.events.schema)])
    ev = ev.take(np.argsort(ev["ts_ms"].to_numpy(), kind="stable"))
    leaked = build_labelled_set(fitted_pipeline, ev, labels)
    np.testing.assert_array_equal(base.X, leaked.X)


def test_split_by_entity_keeps_users_on_one_side(churn_set):
    train, held = churn_set.split_by_entity(0.3, seed=1)
    assert len(train) + len(held) == len(churn_set)
    assert not set(train.entity) & set(held.entity)
    assert 0.15 < len(held) / len(churn_set) < 0.45


def test_held_out_users_are_the_same_for_every_task_and_table():
    from models.dataset import held_out

    users = np.array([f"u{i:06d}" for i in range(2000)], dtype=object)
    mask = held_out(users, 0.2, seed=3)
    assert 0.15 < mask.mean() < 0.25
    subset = users[::7]
    np.testing.assert_array_equal(held_out(subset, 0.2, seed=3), mask[::7])
    assert not np.array_equal(held_out(users, 0.2, seed=4), mask)
