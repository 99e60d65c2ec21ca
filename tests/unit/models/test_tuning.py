"""Tuning: the declared space is searched (grid or random), results ranked by validation AUC."""

from __future__ import annotations

import pytest

from models.tuning import _candidates, search, trials_table
from streams.errors import ConfigError

SPACE = {"hidden": [(4,), (8,)], "dropout": [0.0, 0.5], "learning_rate": [1e-2]}


def test_grid_and_random_cover_the_declared_space():
    grid = _candidates(SPACE, "grid", 0, 0)
    assert len(grid) == 4 and {tuple(c["hidden"]) for c in grid} == {(4,), (8,)}
    rand = _candidates(SPACE, "random", 3, 1)
    assert len(rand) == 3 and all(c in grid for c in rand)
    assert _candidates(SPACE, "random", 3, 1) == rand  # seeded


def test_unknown_parameter_is_rejected():
    with pytest.raises(ConfigError, match="unknown"):
        _candidates({"hiden": [(4,)]}, "grid", 0, 0)


def test_search_ranks_trials_with_early_stopping(churn_set):
    train, val = churn_set.split_by_entity(0.3, seed=2)
    trials = search(
        train, val, SPACE, strategy="grid", n_trials=2, base={"epochs": 3, "patience": 1}
    )
    assert len(trials) == 2
    assert trials[0].val_auc >= trials[1].val_auc
    assert all(1 <= t.epochs <= 3 for t in trials)
    rows = trials_table(trials)
    assert rows[0]["rank"] == 1 and {"hidden", "dropout", "val_auc", "epochs"} <= set(rows[0])
