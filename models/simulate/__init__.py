"""Seeded behaviour simulator with ground truth: events, delayed labels, true probabilities.

``simulate(SimConfig(...))`` draws users with plans, a latent engagement process, sessions and
activity, offers, payment failures and support tickets, plus machine logs for hosts; labels
(churn, upsell) come with the simulator's true probability so the oracle AUC is known.
"""

from models.simulate.engine import LABEL_SCHEMA, SimResult, simulate
from models.simulate.output import (
    PayloadBatch,
    iter_payload_batches,
    read_simulation,
    write_simulation,
)
from models.simulate.params import PLANS, BehaviourParams, SimConfig

__all__ = [
    "LABEL_SCHEMA",
    "PLANS",
    "BehaviourParams",
    "PayloadBatch",
    "SimConfig",
    "SimResult",
    "iter_payload_batches",
    "read_simulation",
    "simulate",
    "write_simulation",
]
