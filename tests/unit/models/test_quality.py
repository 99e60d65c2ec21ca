"""Quality on a held-out simulated population: the MLP reaches >= 0.97 x the oracle AUC and is
not below scikit-learn's HistGradientBoostingClassifier on the same features (run side by side).

Training and held-out users come from two simulations with different seeds; the feature
pipeline (the real default activity spec) is fitted on the training events only.
"""

from __future__ import annotations

import pytest

from models.dataset import build_labelled_set
from models.evaluation import auc
from models.mlp import MLPModel
from models.simulate import SimConfig, simulate
from models.training import fit_pipeline

CALENDAR = {"days": 35, "decision_min_day": 21, "n_hosts": 0}


@pytest.fixture(scope="module")
def populations():
    train = simulate(SimConfig(n_users=5000, seed=11, **CALENDAR))
    held = simulate(SimConfig(n_users=4000, seed=12, **CALENDAR))
    return train, held, fit_pipeline(train.events)


@pytest.mark.parametrize("task", ["churn", "upsell"])
def test_mlp_reaches_oracle_share_and_beats_gradient_boosting(populations, task):
    from sklearn.ensemble import HistGradientBoostingClassifier

    train_sim, held_sim, pipeline = populations
    tr = build_labelled_set(pipeline, train_sim.events, train_sim.labels, task=task)
    te = build_labelled_set(pipeline, held_sim.events, held_sim.labels, task=task)
    assert len(tr) > 3000 and len(te) > 3000

    mlp = MLPModel()
    mlp.fit(tr.X, tr.y, names=tr.names, fingerprint=tr.fingerprint)
    hgb = HistGradientBoostingClassifier(random_state=0).fit(tr.X, tr.y)

    oracle = auc(te.y, te.true_p)
    mlp_auc = auc(te.y, mlp.score(te.X, te.names))
    hgb_auc = auc(te.y, hgb.predict_proba(te.X)[:, 1])
    print(f"\n{task}: n_train={len(tr)} n_held_out={len(te)} oracle AUC={oracle:.4f} "
          f"MLP AUC={mlp_auc:.4f} ({mlp_auc / oracle:.3f} x oracle) "
          f"HGB AUC={hgb_auc:.4f} ({hgb_auc / oracle:.3f} x oracle)")
    assert mlp_auc >= 0.97 * oracle
    assert mlp_auc >= hgb_auc
