"""The point-in-time join on Spark gives the local training set: same rows, same labels,
bit-identical feature vectors (the as-of rows); sampled rows follow the same rule."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def history(etl_inputs):
    from models.simulate import read_simulation
    from models.training import fit_pipeline

    folder = etl_inputs["drift"][0].parent
    events, labels = read_simulation(folder)
    return folder, events, labels, fit_pipeline(events)


@pytest.mark.parametrize("task", ["churn", "upsell"])
def test_spark_as_of_join_equals_local(task, history, spark):
    from models.dataset import build_labelled_set
    from streams.spark.join import labelled_set_spark, read_events_labels

    folder, events, labels, fitted = history
    local = build_labelled_set(fitted, events, labels, task=task)
    ev, lab = read_events_labels(spark, str(folder))
    far = labelled_set_spark(spark, fitted, ev, lab, task=task, partitions=3)
    order = np.lexsort((local.entity.astype(str), local.decision_ts_ms))
    assert len(local) > 10 and len(far) == len(local) and far.dropped == local.dropped
    assert np.array_equal(far.entity, local.entity[order])
    assert np.array_equal(far.decision_ts_ms, local.decision_ts_ms[order])
    assert np.array_equal(far.y, local.y[order])
    assert np.array_equal(far.true_p, local.true_p[order])
    assert np.array_equal(far.X.view(np.uint32), local.X[order].view(np.uint32))
    assert far.fingerprint == local.fingerprint


def test_sampled_rows_keep_the_as_of_block_and_the_layout(history, spark):
    from models.dataset import build_labelled_set
    from streams.spark.join import labelled_set_spark, read_events_labels

    folder, events, labels, fitted = history
    ev, lab = read_events_labels(spark, str(folder))
    far = labelled_set_spark(spark, fitted, ev, lab, task="churn", samples_per_label=2, seed=3)
    as_of = build_labelled_set(fitted, events, labels, task="churn")
    n = len(as_of)
    assert len(far) == 3 * n
    order = np.lexsort((as_of.entity.astype(str), as_of.decision_ts_ms))
    assert np.array_equal(far.X[:n].view(np.uint32), as_of.X[order].view(np.uint32))
    for j in (1, 2):  # each block: the same labels, in the same order
        assert np.array_equal(far.entity[j * n : (j + 1) * n], far.entity[:n])
        assert np.array_equal(far.y[j * n : (j + 1) * n], far.y[:n])
