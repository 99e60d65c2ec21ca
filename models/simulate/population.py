"""Users, their latent engagement, payment failures, support tickets, offers and outcomes.

This is the causal core of the simulator: everything that decides a label lives here, at day
resolution, as [users, days] arrays. :mod:`.activity` then turns it into timestamped events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.simulate._draw import decayed_count_before, expand_counts, sigmoid
from models.simulate.params import DAY_MS, BehaviourParams, SimConfig

__all__ = ["Population", "draw_population"]


@dataclass
class Population:
    """Day-level state of every user plus the outcome draws (times in epoch ms)."""

    plan0: np.ndarray  # int8 [U] plan index at the start
    z: np.ndarray  # float64 [U, D] latent engagement
    session_user: np.ndarray  # int32 [S] sessions, ordered by (user, day)
    session_start: np.ndarray  # int64 [S] session start (the login event)
    drifted: np.ndarray  # bool [D] whether day d uses the drifted parameters
    fail_ts: np.ndarray  # int64 [F] payment failures
    fail_user: np.ndarray  # int32 [F]
    ticket_ts: np.ndarray  # int64 [T]
    ticket_user: np.ndarray  # int32 [T]
    offer_ts: np.ndarray  # int64 [O] offers shown (kept ones only)
    offer_user: np.ndarray  # int32 [O]
    offer_p: np.ndarray  # float64 [O] true acceptance probability
    offer_accepted: np.ndarray  # bool [O]
    offer_response_ts: np.ndarray  # int64 [O] time of the accept/decline event
    offer_declined_visible: np.ndarray  # bool [O] a decline that emits an event
    upgrade_ts: np.ndarray  # int64 [U] when the user moved up a plan (int64 max if never)
    decision_ts: np.ndarray  # int64 [U] churn decision time
    churn_p: np.ndarray  # float64 [U]
    churned: np.ndarray  # bool [U]
    leave_ts: np.ndarray  # int64 [U] when the user leaves (int64 max if retained)

    def plan_at(self, user: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Plan index of ``user`` at time ``ts`` (arrays of equal length)."""
        return self.plan0[user] + (ts >= self.upgrade_ts[user]).astype(np.int8)


NEVER = np.iinfo(np.int64).max


def _per_day(cfg: SimConfig, drifted: np.ndarray, name: str) -> np.ndarray:
    before = np.asarray(getattr(cfg.params, name), dtype=np.float64)
    after = np.asarray(getattr(cfg.params_after_drift(), name), dtype=np.float64)
    return np.where(drifted.reshape((-1,) + (1,) * before.ndim), after, before)


def _engagement(rng: np.random.Generator, p: BehaviourParams, n_users: int, days: int):
    level = rng.normal(0.0, p.engagement_sd, n_users)
    dev = np.zeros((n_users, days))
    stationary_sd = p.engagement_noise_sd / np.sqrt(1.0 - p.engagement_ar**2)
    dev[:, 0] = rng.normal(0.0, stationary_sd, n_users)
    for d in range(1, days):  # AR(1) over days; vectorised over users
        shock = rng.normal(0.0, p.engagement_noise_sd, n_users)
        dev[:, d] = p.engagement_ar * dev[:, d - 1] + shock
    return level[:, None] + dev


def _times_in_day(rng, start_ms: int, day: np.ndarray) -> np.ndarray:
    return start_ms + day.astype(np.int64) * DAY_MS + rng.integers(0, DAY_MS, day.size)


def draw_population(cfg: SimConfig, rng: np.random.Generator) -> Population:
    """Draw users, their daily state, and every outcome (see :class:`BehaviourParams`)."""
    n, days = cfg.n_users, cfg.days
    drifted = np.zeros(days, dtype=bool)
    if cfg.drift_day is not None:
        drifted[cfg.drift_day :] = True
    plan0 = rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1]).astype(np.int8)
    z = _engagement(rng, cfg.params, n, days)
    lam = np.exp(
        _per_day(cfg, drifted, "sessions_log_base")[None, :]
        + _per_day(cfg, drifted, "sessions_log_slope")[None, :] * z
    )
    cell = expand_counts(rng.poisson(lam))
    s_user, s_day = (cell // days).astype(np.int32), cell % days
    s_start = cfg.start_ms + s_day * DAY_MS + rng.integers(0, DAY_MS - 3 * 3_600_000, cell.size)
    zbar7_cum = np.zeros((n, days + 1))
    np.cumsum(z, axis=1, out=zbar7_cum[:, 1:])

    # Payment failures (paid plans only) and support tickets, per user-day.
    p0 = cfg.params
    user_eff = rng.normal(-0.5 * p0.payment_failure_user_sd**2, p0.payment_failure_user_sd, n)
    q = _per_day(cfg, drifted, "payment_failure_rate")[None, :] * np.exp(user_eff)[:, None]
    fails = (rng.random((n, days)) < np.minimum(q, 0.9)) & (plan0 > 0)[:, None]
    recent = fails.astype(np.float64)
    recent[:, 1:] += fails[:, :-1]
    recent[:, 2:] += fails[:, :-2]
    t_logit = (
        _per_day(cfg, drifted, "ticket_log_odds")[None, :]
        + _per_day(cfg, drifted, "ticket_per_failure")[None, :] * recent
        + _per_day(cfg, drifted, "ticket_engagement")[None, :] * z
    )
    tickets = rng.random((n, days)) < sigmoid(t_logit)
    fu, fd = np.nonzero(fails)
    tu, td = np.nonzero(tickets)
    fail_ts = _times_in_day(rng, cfg.start_ms, fd)
    ticket_ts = _times_in_day(rng, cfg.start_ms, td)
    half_life = cfg.signal_half_life_days * DAY_MS

    def signals(rows: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, ...]:
        """Decayed sessions, payment failures and tickets of ``rows`` just before ``ts``."""
        return tuple(
            decayed_count_before(u, t, rows, ts, half_life)
            for u, t in ((s_user, s_start), (fu, fail_ts), (tu, ticket_ts))
        )

    def zbar7(rows: np.ndarray, day: np.ndarray) -> np.ndarray:
        lo = np.maximum(day - 7, 0)
        return (zbar7_cum[rows, day] - zbar7_cum[rows, lo]) / np.maximum(day - lo, 1)

    # Offers: from day 7, to every plan (premium users get a renewal offer, rarely taken); a
    # user accepts at most one, and moves up a plan unless already premium.
    offer_rate = _per_day(cfg, drifted, "offer_rate")
    shown = rng.random((n, days)) < offer_rate[None, :]
    shown[:, :7] = False
    ou, od = np.nonzero(shown)
    o_ts = _times_in_day(rng, cfg.start_ms, od)
    o_sess, o_fails, _ = signals(ou, o_ts)
    up = lambda name: _per_day(cfg, drifted, name)[od]  # noqa: E731 - local shorthand
    plan_coef = _per_day(cfg, drifted, "upsell_plan")[od, plan0[ou]]
    o_p = sigmoid(
        up("upsell_bias")
        + up("upsell_engagement") * zbar7(ou, od)
        + up("upsell_sessions") * np.log1p(o_sess)
        + up("upsell_payment_failures") * o_fails
        + plan_coef
    )
    o_acc = rng.random(ou.size) < o_p
    window_ms = int(cfg.offer_response_days * DAY_MS)
    o_resp = o_ts + (rng.uniform(0.05, 1.0, ou.size) * window_ms).astype(np.int64)
    # Offers arrive in (user, day) order: keep those up to each user's first acceptance.
    first_acc = np.full(n, NEVER)
    np.minimum.at(first_acc, ou[o_acc], o_ts[o_acc])
    keep = o_ts <= first_acc[ou]
    upgrade_ts = np.full(n, NEVER)
    moves = o_acc & keep & (plan0[ou] < 3)
    np.minimum.at(upgrade_ts, ou[moves], o_resp[moves])

    # Churn: one decision per user at the start of a day; leaves within the horizon if churned.
    dday = rng.integers(cfg.decision_min_day, days - cfg.horizon_days + 1, n)
    users = np.arange(n)
    decision_ts = cfg.start_ms + dday.astype(np.int64) * DAY_MS
    plan_at_d = plan0 + (decision_ts >= upgrade_ts).astype(np.int8)
    ch = lambda name: _per_day(cfg, drifted, name)[dday]  # noqa: E731
    d_sess, d_fails, d_tickets = signals(users, decision_ts)
    churn_p = sigmoid(
        ch("churn_bias")
        + ch("churn_engagement") * zbar7(users, dday)
        + ch("churn_sessions") * np.log1p(d_sess)
        + ch("churn_payment_failures") * d_fails
        + ch("churn_tickets") * d_tickets
        + _per_day(cfg, drifted, "churn_plan")[dday, plan_at_d]
    )
    churned = rng.random(n) < churn_p
    leave_ts = np.where(
        churned,
        decision_ts + (rng.uniform(0.0, 1.0, n) * cfg.horizon_days * DAY_MS).astype(np.int64),
        NEVER,
    )
    # An offer answered after the user left never happened; such an acceptance came after the
    # decision (leave_ts > decision_ts), so the plan used for churn above stays right.
    keep &= o_resp < leave_ts[ou]
    upgrade_ts = np.full(n, NEVER)
    moves = o_acc & keep & (plan0[ou] < 3)
    np.minimum.at(upgrade_ts, ou[moves], o_resp[moves])
    f_keep = fail_ts < leave_ts[fu]
    t_keep = ticket_ts < leave_ts[tu]
    return Population(
        plan0=plan0,
        z=z,
        session_user=s_user,
        session_start=s_start,
        drifted=drifted,
        fail_ts=fail_ts[f_keep],
        fail_user=fu[f_keep].astype(np.int32),
        ticket_ts=ticket_ts[t_keep],
        ticket_user=tu[t_keep].astype(np.int32),
        offer_ts=o_ts[keep],
        offer_user=ou[keep].astype(np.int32),
        offer_p=o_p[keep],
        offer_accepted=o_acc[keep],
        offer_response_ts=o_resp[keep],
        offer_declined_visible=(~o_acc[keep]) & (rng.random(int(keep.sum())) < 0.7),
        upgrade_ts=upgrade_ts,
        decision_ts=decision_ts,
        churn_p=churn_p,
        churned=churned,
        leave_ts=leave_ts,
    )
