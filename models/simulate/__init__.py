"""Seeded behaviour simulator with ground truth: events, delayed labels, true probabilities.

``simulate(SimConfig(...))`` draws users with plans, a latent engagement process, sessions and
activity, offers, payment failures and support tickets, plus machine logs for hosts; labels
(churn, upsell) come with the simulator's true probability so the oracle AUC is known.
"""

from models.simulate.engine import LABEL_SCHEMA, simulate
from models.simulate.output import (
    TOPIC_KEYS,
    iter_payload_batches,
    read_simulation,
    send_payloads,
    write_simulation,
)
from models.simulate.params import SimConfig

__all__ = [
    "LABEL_SCHEMA",
    "TOPIC_KEYS",
    "SimConfig",
    "iter_payload_batches",
    "read_simulation",
    "send_payloads",
    "simulate",
    "write_simulation",
]
