"""Feature pipeline: outcomes of each step, offline == online bit-identity, fit/save/load,
fingerprints, window-state rows, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from streams.features import (
    FeatureInputError,
    FeaturePipeline,
    FeatureSpec,
    FeatureSpecError,
    FingerprintError,
    FittedPipeline,
    default_spec,
)
from tests.support.events import activity_table, log_table


@pytest.fixture(scope="module")
def activity() -> pa.Table:
    return activity_table(3000, seed=1, n_users=60)


@pytest.fixture(scope="module")
def fitted(activity: pa.Table) -> FittedPipeline:
    return FeaturePipeline(default_spec()).fit(activity)


def _column(fb, name: str) -> np.ndarray:
    return fb.X[:, fb.names.index(name)]


def _spec(*steps: dict) -> FeatureSpec:
    return FeatureSpec.model_validate({"name": "t", "steps": list(steps)})


def _split(table: pa.Table, rng: np.random.Generator) -> list[pa.RecordBatch]:
    cuts = np.sort(rng.choice(np.arange(1, len(table)), size=25, replace=False))
    bounds = [0, *cuts.tolist(), len(table)]
    return [table.slice(a, b - a).to_batches()[0] for a, b in zip(bounds, bounds[1:], strict=False)]


@pytest.mark.parametrize("kind", ["activity", "logs"])
def test_offline_and_online_feature_vectors_are_bit_identical(kind: str) -> None:
    table = activity_table(2000, seed=2, n_users=40) if kind == "activity" else log_table(2000)
    fitted = FeaturePipeline(default_spec(kind)).fit(table)
    offline = fitted.transform(table, fitted.new_state())
    state = fitted.new_state()
    online = [fitted.transform(b, state) for b in _split(table, np.random.default_rng(3))]
    assert np.array_equal(np.vstack([o.X for o in online]), offline.X)
    ids = pa.chunked_array([o.event_id for o in online]).to_pylist()
    assert ids == offline.event_id.to_pylist()
    assert np.isfinite(offline.X).all()


def test_online_with_state_rows_kept_outside_like_a_faust_table(fitted, activity) -> None:
    """Each batch gets a fresh WindowState filled from an external store (dict of rows)."""
    offline = fitted.transform(activity, fitted.new_state())
    store: dict[str, np.ndarray] = {}
    parts = []
    for batch in _split(activity, np.random.default_rng(4)):
        entities = sorted(set(batch.column("entity").to_pylist()))
        state = fitted.new_state(capacity=4)
        zero = np.zeros(state.row_width)
        state.import_rows(entities, np.array([store.get(e, zero) for e in entities]))
        parts.append(fitted.transform(batch, state).X)
        store.update(zip(entities, state.export_rows(entities), strict=True))
    assert np.array_equal(np.vstack(parts), offline.X)


def test_window_state_rows_unseen_entities_are_zero_and_shape_is_checked(fitted) -> None:
    state = fitted.new_state()
    rows = state.export_rows(["nobody"])
    assert rows.shape == (1, state.row_width) and not rows.any()
    assert "nobody" not in state
    with pytest.raises(FeatureInputError, match="expected rows of shape"):
        state.import_rows(["a", "b"], np.zeros((1, state.row_width)))


def test_filter_property_and_one_hot_steps(fitted) -> None:
    table = pa.concat_tables(
        [
            activity_table(4, seed=5),
            log_table(3).cast(activity_table(1).schema),
        ]
    )
    fb = fitted.transform(table, fitted.new_state())
    assert len(fb) == 4  # log events filtered out
    assert fb.event_id.to_pylist() == table.column("event_id").to_pylist()[:4]
    kinds = table.column("event_type").to_pylist()[:4]
    for row, kind in enumerate(kinds):
        name = f"event_type={kind}" if f"event_type={kind}" in fb.names else "event_type=<other>"
        assert fb.X[row, fb.names.index(name)] == 1
        one_hot = [n for n in fb.names if n.startswith("event_type=")]
        assert fb.X[row, [fb.names.index(n) for n in one_hot]].sum() == 1


def test_property_values_reach_the_features() -> None:
    spec = _spec(
        {"op": "property", "key": "amount", "name": "amount", "to": "float64"},
        {"op": "property", "key": "plan", "name": "plan"},
        {"op": "numeric", "column": "amount", "fill": -1},
        {"op": "onehot", "column": "plan", "categories": ["pro", 'a\\"b']},
    )
    props = [
        '{"plan":"pro","amount":9.99}',
        '{"amount": "12"}',
        None,
        '{"amount":"x"}',
        '{"plan": "a\\"b", "amount": -2e3}',
        '{"amount": 1e999}',
    ]
    table = activity_table(len(props)).set_column(14, "properties", pa.array(props))
    fb = FeaturePipeline(spec).fit(table).transform(table, None)
    assert _column(fb, "amount").tolist() == [pytest.approx(9.99), 12, -1, -1, -2000, -1]
    assert _column(fb, "plan=pro").tolist() == [1, 0, 0, 0, 0, 0]
    assert _column(fb, 'plan=a\\"b').tolist() == [0, 0, 0, 0, 1, 0]
    assert _column(fb, "plan=<other>").tolist() == [0, 1, 1, 1, 0, 1]


def test_infinite_and_nan_amounts_do_not_poison_window_sums() -> None:
    spec = _spec(
        {"op": "property", "key": "amount", "name": "amount", "to": "float64"},
        {"op": "windows", "types": ["purchase"], "value_column": "amount", "horizons_s": [86400]},
    )
    props = ['{"amount": 1e999}', '{"amount": 5}', '{"amount": -1e999}', '{"amount": 2}']
    table = activity_table(4, n_users=1)
    table = table.set_column(14, "properties", pa.array(props))
    table = table.set_column(4, "event_type", pa.array(["purchase"] * 4))
    pipe = FeaturePipeline(spec)
    fb = pipe.fit(table).transform(table, pipe.new_state())
    sums = _column(fb, "win.purchase.sum_1d")
    assert np.isfinite(sums).all() and sums[-1] == pytest.approx(7.0)


def test_time_features_are_utc_hour_and_monday_zero_weekday() -> None:
    spec = _spec({"op": "time", "features": ["hour", "dow", "hour_sin", "dow_cos"]})
    monday_13h = 1_433_116_800_000 + 13 * 3_600_000  # 2015-06-01 (a Monday) 13:00 UTC
    table = activity_table(2).set_column(1, "ts_ms", pa.array([monday_13h, 0], pa.int64()))
    fb = FeaturePipeline(spec).fit(table).transform(table, None)
    assert _column(fb, "ts_ms.hour").tolist() == [13, 0]
    assert _column(fb, "ts_ms.dow").tolist() == [0, 3]  # 1970-01-01 was a Thursday
    assert _column(fb, "ts_ms.hour_sin")[1] == 0
    week_angle = 2 * np.pi * (13 / 24) / 7  # Monday 13:00 is 13/24 of a day into the week
    assert _column(fb, "ts_ms.dow_cos")[0] == pytest.approx(np.cos(week_angle), rel=1e-6)


def test_window_features_count_per_entity_through_the_pipeline(fitted) -> None:
    spec = _spec({"op": "windows", "types": ["login"], "horizons_s": [3600]})
    table = activity_table(500, seed=6, n_users=5)
    fb = FeaturePipeline(spec).fit(table).transform(table, FeaturePipeline(spec).new_state())
    entities = table.column("entity").to_pylist()
    want = [entities[: i + 1].count(e) for i, e in enumerate(entities)]
    assert _column(fb, "win.n_events").tolist() == want


def test_normalisers_are_fitted_on_the_fit_data(fitted, activity) -> None:
    fb = fitted.transform(activity, fitted.new_state())
    standard = [s for s in fitted.stats if s["method"] == "standard"][0]
    cols = [
        fb.names.index(n)
        for n, sc in zip(standard["columns"], standard["scale"], strict=True)
        if sc != 1.0
    ]
    assert len(cols) > 50
    np.testing.assert_allclose(fb.X[:, cols].mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(fb.X[:, cols].std(axis=0), 1, rtol=1e-3)
    minmax = [fb.names.index(n) for n in fitted.stats[0]["columns"]]
    assert fb.X[:, minmax].min() >= 0 and fb.X[:, minmax].max() <= 1 + 1e-6


def test_save_load_round_trip_keeps_fingerprint_and_vectors(fitted, activity, tmp_path) -> None:
    path = fitted.save(tmp_path / "pipe" / "activity.json")
    again = FittedPipeline.load(path)
    assert again.fingerprint == fitted.fingerprint
    a = fitted.transform(activity, fitted.new_state()).X
    b = again.transform(activity, again.new_state()).X
    assert np.array_equal(a, b)


def test_edited_saved_pipeline_fails_its_fingerprint(fitted, tmp_path) -> None:
    path = fitted.save(tmp_path / "p.json")
    doc = json.loads(path.read_text())
    doc["stats"][1]["shift"][0] += 1.0
    path.write_text(json.dumps(doc))
    with pytest.raises(FingerprintError, match="expected fingerprint"):
        FittedPipeline.load(path)
    path.write_text("{}")
    with pytest.raises(FeatureSpecError, match="expected format 1"):
        FittedPipeline.load(path)


def test_fingerprint_is_stable_across_processes(fitted) -> None:
    code = (
        "from streams.features import FeaturePipeline, default_spec\n"
        "from tests.support.events import activity_table\n"
        "t = activity_table(3000, seed=1, n_users=60)\n"
        "print(FeaturePipeline(default_spec()).fit(t).fingerprint)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "7"},
    )
    assert done.stdout.strip() == fitted.fingerprint
    assert fitted.fingerprint.startswith("sha256:")


def test_fingerprint_changes_with_spec_and_with_statistics(fitted, activity) -> None:
    other_data = FeaturePipeline(default_spec()).fit(activity_table(500, seed=9))
    assert other_data.fingerprint != fitted.fingerprint
    doc = json.loads(default_spec().to_json())
    doc["steps"][5]["bits"] = 5  # the plan hash space
    wider = FeaturePipeline(FeatureSpec.model_validate(doc)).fit(activity)
    assert wider.fingerprint != fitted.fingerprint
    doc["steps"][5]["bits"] = 4
    doc["steps"][7]["horizons_s"][0] = 1800.0  # a window definition
    shorter = FeaturePipeline(FeatureSpec.model_validate(doc)).fit(activity)
    assert shorter.fingerprint != fitted.fingerprint


def test_empty_batch_gives_an_empty_matrix(fitted, activity) -> None:
    fb = fitted.transform(activity.slice(0, 0), fitted.new_state())
    assert fb.X.shape == (0, len(fitted.names))


def test_to_arrow_carries_names_and_fingerprint(fitted, activity) -> None:
    fb = fitted.transform(activity.slice(0, 10), fitted.new_state())
    table = fb.to_arrow()
    assert table.num_rows == 10
    assert table.schema.metadata[b"fingerprint"].decode() == fitted.fingerprint
    assert json.loads(table.schema.metadata[b"feature_names"]) == list(fb.names)
    assert np.array_equal(np.array(table.column("features").to_pylist(), np.float32), fb.X)


def test_clear_errors_for_bad_input(fitted, activity) -> None:
    with pytest.raises(FeatureInputError, match="expected column 'properties'"):
        fitted.transform(activity.drop_columns(["properties"]), fitted.new_state())
    with pytest.raises(FeatureInputError, match="WindowState"):
        fitted.transform(activity, None)
    nulls = activity.slice(0, 3).set_column(2, "entity", pa.array(["a", None, "b"]))
    with pytest.raises(FeatureInputError, match="null"):
        fitted.transform(nulls, fitted.new_state())
    with pytest.raises(FeatureInputError, match="expected events left"):
        FeaturePipeline(default_spec()).fit(log_table(5).cast(activity.schema))
    with pytest.raises(FeatureSpecError, match="match a feature"):
        FeaturePipeline(
            _spec({"op": "time"}, {"op": "normalise", "method": "standard", "columns": ["nope*"]})
        )


def test_warm_up_compiles_every_kernel_the_pipeline_uses() -> None:
    """In a fresh process: after warm_up, featurising compiles nothing new."""
    code = (
        "from kernels import _cpu, warm_up\n"
        "from streams.features import FeaturePipeline, default_spec\n"
        "from tests.support.events import activity_table, log_table\n"
        "warm_up('cpu')\n"
        "kernels = [_cpu.hash_strings, _cpu.token_counts, _cpu.window_update,\n"
        "           _cpu.normalise, _cpu.one_hot]\n"
        "before = [len(k.signatures) for k in kernels]\n"
        "for kind, t in (('activity', activity_table(50)), ('logs', log_table(50))):\n"
        "    f = FeaturePipeline(default_spec(kind)).fit(t)\n"
        "    f.transform(t.to_batches()[0], f.new_state())\n"
        "print(before, [len(k.signatures) for k in kernels])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = done.stdout.strip().split("] [")
    assert before + "]" == "[" + after, done.stdout


def test_number_text_reads_the_same_whether_or_not_the_batch_has_bad_rows() -> None:
    from streams.features._table_ops import as_float

    good = ["1", "+.5", "2e3", "nan", "-Infinity", "1.", None]
    clean = as_float(pa.array(good)).to_pylist()
    mixed = as_float(pa.array([*good, "x", " 1", "0x1A"])).to_pylist()
    assert str(mixed[: len(good)]) == str(clean)  # str: nan == nan
    assert mixed[len(good) :] == [None, None, None]


def test_fitting_in_chunks_gives_the_whole_table_statistics(activity, monkeypatch) -> None:
    from streams.features import pipeline as pipeline_module

    raw_fit = FeaturePipeline(
        _spec(
            {
                "op": "windows",
                "types": ["login", "purchase"],
                "horizons_s": [3600, 86400],
                "halflives_s": [86400],
            },
            {"op": "normalise", "method": "minmax", "columns": ["win.*.recency_h"]},
            {"op": "normalise", "method": "standard", "columns": ["win.*"]},
        )
    )
    monkeypatch.setattr(pipeline_module, "FIT_CHUNK_ROWS", 97)
    chunked = raw_fit.fit(activity)
    x, _ = raw_fit._features(activity, raw_fit.new_state())  # raw, unnormalised
    for stats in chunked.stats:
        cols = [raw_fit.names.index(n) for n in stats["columns"]]
        block = x[:, cols].astype(np.float64)
        if stats["method"] == "standard":
            want_shift, spread = block.mean(axis=0), block.std(axis=0)
        else:
            want_shift, spread = block.min(axis=0), np.ptp(block, axis=0)
        want_scale = np.where(spread > 0, 1 / np.where(spread > 0, spread, 1), 1.0)
        np.testing.assert_allclose(stats["shift"], want_shift, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(stats["scale"], want_scale, rtol=1e-7)


@pytest.mark.parametrize("kind", ["activity", "logs"])
def test_fit_computes_only_normalised_blocks_with_the_full_matrix_statistics(kind: str) -> None:
    from streams.features._stats import RunningStats

    table = activity_table(1500, seed=4, n_users=30) if kind == "activity" else log_table(1500)
    pipeline = FeaturePipeline(default_spec(kind))
    fitted = pipeline.fit(table)
    assert pipeline._fit_width < pipeline.width  # the tokens, one-hots... are not computed
    x, _ = pipeline._features(table, pipeline.new_state())  # every block, raw
    for norm, stats in zip(pipeline._normalisers, fitted.stats, strict=True):
        full = RunningStats(norm.cols)
        full.add(x)
        assert (stats["shift"], stats["scale"]) == full.shift_scale(norm.method)  # exact


def test_fit_still_checks_the_inputs_of_blocks_it_does_not_compute() -> None:
    table = log_table(50)
    with pytest.raises(FeatureInputError, match="expected column 'message'"):
        FeaturePipeline(default_spec("logs")).fit(table.drop_columns(["message"]))
