"""STREAMSCORE_RETRAIN_TASKS: which tasks the leader retrains."""

from __future__ import annotations

import pytest

from streams.errors import ConfigError
from streams.learning.learner import Learner, retrain_tasks
from streams.settings import load_settings


def test_empty_means_every_task_and_names_are_checked():
    assert retrain_tasks(load_settings(env={})) == ()
    env = {"STREAMSCORE_RETRAIN_TASKS": " churn , "}
    assert retrain_tasks(load_settings(env=env)) == ("churn",)
    bad = load_settings(env={"STREAMSCORE_RETRAIN_TASKS": "churn,nope"})
    with pytest.raises(ConfigError, match=r"expected a comma-separated list of churn, upsell, "
                                          r"got 'churn,nope'"):  # fmt: skip
        retrain_tasks(bad)


def test_the_learner_retrains_only_the_named_tasks_that_have_a_champion(tmp_path, monkeypatch):
    from models.registry import ModelRegistry

    champions = {"churn": object(), "upsell": object()}
    monkeypatch.setattr(ModelRegistry, "champion", lambda self, task: champions.get(task))

    def tasks(retrain: str, models=None) -> list[str]:
        env = {"STREAMSCORE_RETRAIN_TASKS": retrain}
        return Learner(load_settings(env=env, state_dir=tmp_path), "127.0.0.1:9", models)._tasks()

    assert tasks("") == ["churn", "upsell"]
    assert tasks("upsell") == ["upsell"]
    assert tasks("upsell", models=["churn"]) == []  # the worker does not score upsell
    del champions["churn"]
    assert tasks("churn,upsell") == ["upsell"]  # no champion, nothing to retrain
