"""Turn a :class:`~models.simulate.population.Population` into timestamped activity events.

Events are built as columns (time, user, type code, properties) part by part and concatenated;
nothing loops per event in Python except formatting the few numeric properties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.simulate._draw import grouped_offsets
from models.simulate.params import DAY_MS, PLAN_PRICES, PLANS, SimConfig
from models.simulate.population import Population
from schemas.events import ActivityType

__all__ = ["ActivityColumns", "TYPE_CODES", "draw_activity"]

TYPE_CODES: tuple[str, ...] = tuple(t.value for t in ActivityType)
_CODE = {name: i for i, name in enumerate(TYPE_CODES)}


@dataclass
class ActivityColumns:
    ts: np.ndarray  # int64 epoch ms
    user: np.ndarray  # int32 user index
    code: np.ndarray  # int8 index into TYPE_CODES
    properties: np.ndarray  # object: JSON object string or None

    @staticmethod
    def concat(parts: list[ActivityColumns]) -> ActivityColumns:
        return ActivityColumns(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("ts", "user", "code", "properties")
            )
        )


def _part(ts, user, type_name: str, props) -> ActivityColumns:
    n = len(ts)
    if props is None or isinstance(props, str):
        props = np.full(n, props, dtype=object)
    return ActivityColumns(
        ts=np.asarray(ts, dtype=np.int64),
        user=np.asarray(user, dtype=np.int32),
        code=np.full(n, _CODE[type_name], dtype=np.int8),
        properties=np.asarray(props, dtype=object),
    )


_PLAN_PROPS = np.array([f'{{"plan":"{p}"}}' for p in PLANS], dtype=object)


def _sessions(cfg: SimConfig, pop: Population, rng: np.random.Generator) -> list[ActivityColumns]:
    p_before, p_after = cfg.params, cfg.params_after_drift()

    def coef(name: str) -> np.ndarray:
        return np.where(pop.drifted, getattr(p_after, name), getattr(p_before, name))

    s_user, start = pop.session_user, pop.session_start
    s_day = (start - cfg.start_ms) // DAY_MS
    z = pop.z[s_user, s_day]
    per_session = np.exp(coef("events_log_base")[s_day] + coef("events_log_slope")[s_day] * z)
    k = 1 + rng.poisson(per_session)
    ev_sess = np.repeat(np.arange(start.size), k)
    gaps = rng.exponential(40_000.0, ev_sess.size)
    ev_ts = start[ev_sess] + 2_000 + grouped_offsets(gaps, k).astype(np.int64)
    end_ts = ev_ts[np.cumsum(k) - 1] + rng.exponential(60_000.0, start.size).astype(np.int64)

    share = p_before.purchase_share
    kinds = np.array(["view", "like", "message", "purchase"])
    probs = np.array([0.66 - share, 0.22, 0.12, share])
    pick = rng.choice(4, ev_sess.size, p=probs / probs.sum())
    parts = [
        _part(start, s_user, "login", _PLAN_PROPS[pop.plan_at(s_user, start)]),
        _part(
            end_ts,
            s_user,
            "session_end",
            [f'{{"duration_s":{d}}}' for d in ((end_ts - start) // 1000).tolist()],
        ),
    ]
    ev_user = s_user[ev_sess]
    for i, name in enumerate(kinds):
        sel = pick == i
        props = None
        if name == "purchase":
            amounts = np.round(rng.uniform(0.99, 49.99, int(sel.sum())), 2)
            props = [f'{{"amount":{a}}}' for a in amounts.tolist()]
        parts.append(_part(ev_ts[sel], ev_user[sel], str(name), props))
    return parts


def _outcome_events(cfg: SimConfig, pop: Population) -> list[ActivityColumns]:
    fail_plan = pop.plan_at(pop.fail_user, pop.fail_ts)
    fail_props = np.array(
        [f'{{"amount":{price},"reason":"card_declined"}}' for price in PLAN_PRICES], dtype=object
    )
    acc = pop.offer_accepted
    offer_props = np.array([f'{{"offer_id":"up-{p}"}}' for p in PLANS], dtype=object)
    o_plan = pop.plan0[pop.offer_user]
    new_plan = np.minimum(o_plan + 1, len(PLANS) - 1)
    change_props = np.array(
        [f'{{"plan":"{PLANS[min(i + 1, 3)]}","from":"{PLANS[i]}"}}' for i in range(len(PLANS))],
        dtype=object,
    )
    price_props = np.array([f'{{"amount":{p}}}' for p in PLAN_PRICES], dtype=object)
    dec = pop.offer_declined_visible
    moved = acc & (o_plan < len(PLANS) - 1)  # premium renews: a purchase, no plan change
    r_ts, r_user = pop.offer_response_ts, pop.offer_user
    return [
        _part(pop.fail_ts, pop.fail_user, "payment_failed", fail_props[fail_plan]),
        _part(pop.ticket_ts, pop.ticket_user, "support_ticket", '{"topic":"billing"}'),
        _part(pop.offer_ts, pop.offer_user, "offer_shown", offer_props[new_plan]),
        _part(r_ts[acc], r_user[acc], "offer_accepted", offer_props[new_plan[acc]]),
        _part(r_ts[moved] + 1_000, r_user[moved], "plan_change", change_props[o_plan[moved]]),
        _part(r_ts[acc] + 2_000, r_user[acc], "purchase", price_props[new_plan[acc]]),
        _part(r_ts[dec], r_user[dec], "offer_declined", offer_props[new_plan[dec]]),
    ]


def draw_activity(cfg: SimConfig, pop: Population, rng: np.random.Generator) -> ActivityColumns:
    """All activity events of the population, unsorted; nothing at or after a user leaves."""
    cols = ActivityColumns.concat(_sessions(cfg, pop, rng) + _outcome_events(cfg, pop))
    keep = (cols.ts < pop.leave_ts[cols.user]) & (cols.ts < cfg.end_ms)
    cols = ActivityColumns(cols.ts[keep], cols.user[keep], cols.code[keep], cols.properties[keep])
    _stamp_plan(cols, pop)
    return cols


def _stamp_plan(cols: ActivityColumns, pop: Population) -> None:
    """Every event carries the user's current plan in its properties (as app SDKs attach user
    traits to each event), except plan_change, whose ``plan`` is already the new one."""
    plan = pop.plan_at(cols.user, cols.ts)
    bare = np.array([v is None for v in cols.properties.tolist()], dtype=bool)
    cols.properties[bare] = _PLAN_PROPS[plan[bare]]
    has_plan = (cols.code == _CODE["plan_change"]) | (cols.code == _CODE["login"])
    rest = np.flatnonzero(~bare & ~has_plan)
    suffix = np.array([f',"plan":"{p}"}}' for p in PLANS], dtype=object)
    cols.properties[rest] = [
        s[:-1] + suf
        for s, suf in zip(cols.properties[rest].tolist(), suffix[plan[rest]].tolist(), strict=True)
    ]
