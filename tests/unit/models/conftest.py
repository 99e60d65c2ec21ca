"""Shared fixtures: a small simulated population, the real fitted feature pipeline, labelled
sets, and one quickly trained model per registered kind (TensorFlow on two threads)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SMALL = {
    "n_users": 400,
    "days": 28,
    "decision_min_day": 14,
    "n_hosts": 2,
    "log_lines_per_host_day": 5,
}
FAST_PARAMS = {"mlp": {"epochs": 3, "hidden": [16], "patience": 2}, "logistic": {}}


@pytest.fixture(scope="session")
def small_sim():
    from models.simulate import SimConfig, simulate

    return simulate(SimConfig(seed=5, **SMALL))


@pytest.fixture(scope="session")
def fitted_pipeline(small_sim):
    from models.training import fit_pipeline

    return fit_pipeline(small_sim.events)


@pytest.fixture(scope="session")
def churn_set(small_sim, fitted_pipeline):
    from models.dataset import build_labelled_set

    return build_labelled_set(fitted_pipeline, small_sim.events, small_sim.labels, task="churn")


def _models_kinds():
    from models.kinds import MODEL_KINDS

    return sorted(MODEL_KINDS)


@pytest.fixture(scope="session", params=_models_kinds())
def trained(request, churn_set):
    """(kind, model) trained on the small churn set."""
    from models.kinds import new_model

    model = new_model(request.param, FAST_PARAMS.get(request.param, {}))
    model.fit(churn_set.X, churn_set.y, names=churn_set.names, fingerprint=churn_set.fingerprint)
    return request.param, model
