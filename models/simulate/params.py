"""Parameters of the behaviour simulator: how users act, and how outcomes depend on it.

Everything the simulator draws comes from a :class:`SimConfig` (sizes, calendar, seed) and one or
two :class:`BehaviourParams` (before and after a drift point). Rates are per user per day unless a
name says otherwise; coefficients act on the log-odds of an outcome.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PLANS", "BehaviourParams", "SimConfig"]

PLANS: tuple[str, ...] = ("free", "basic", "pro", "premium")
"""Plans in upgrade order: an accepted offer moves a user one step right."""

PLAN_PRICES: tuple[float, ...] = (0.0, 4.99, 9.99, 19.99)

DAY_MS = 86_400_000


@dataclass(frozen=True)
class BehaviourParams:
    """How the latent engagement turns into events, and events into outcomes.

    Engagement ``z`` is a per-user level plus an AR(1) daily deviation. Sessions per day are
    Poisson with mean ``exp(sessions_log_base + sessions_log_slope * z)``; activity events per
    session are ``1 + Poisson(exp(events_log_base + events_log_slope * z))``.

    Churn (leaves within the horizon after its decision time) has log-odds
    ``churn_bias + churn_engagement * zbar7 + churn_sessions * log1p(sessions)
    + churn_payment_failures * fails + churn_tickets * tickets + churn_plan[plan]`` where
    ``zbar7`` is the mean latent engagement of the 7 days before the decision, and ``sessions``,
    ``fails``, ``tickets`` are exponentially decayed counts (half-life
    ``SimConfig.signal_half_life_days``) of logins, payment failures and support tickets just
    before it. Churn depends mostly on what users visibly did and less on the unobservable
    latent, so the oracle is nearly (not exactly) reachable from streaming event features.
    Upsell (accepts a shown offer) has the analogous ``upsell_*`` log-odds.
    """

    engagement_sd: float = 1.0
    engagement_ar: float = 0.8
    engagement_noise_sd: float = 0.25
    sessions_log_base: float = 0.2
    sessions_log_slope: float = 0.8
    events_log_base: float = 1.0
    events_log_slope: float = 0.2
    purchase_share: float = 0.01
    payment_failure_rate: float = 0.015
    payment_failure_user_sd: float = 1.0
    ticket_log_odds: float = -4.5
    ticket_per_failure: float = 1.5
    ticket_engagement: float = -0.5
    offer_rate: float = 0.06
    churn_bias: float = 1.8
    churn_engagement: float = -0.2
    churn_sessions: float = -1.2
    churn_payment_failures: float = 1.0
    churn_tickets: float = 0.8
    churn_plan: tuple[float, ...] = (0.6, 0.0, -0.4, -0.8)
    upsell_bias: float = -3.95
    upsell_engagement: float = 0.15
    upsell_sessions: float = 1.0
    upsell_payment_failures: float = -1.0
    upsell_plan: tuple[float, ...] = (0.5, 0.0, -0.5, -2.5)

    def drifted(self) -> BehaviourParams:
        """A plausible shifted regime: busier sessions, payment trouble matters more for churn,
        engagement matters less for upsell."""
        return dataclasses.replace(
            self,
            sessions_log_base=self.sessions_log_base + 0.3,
            payment_failure_rate=self.payment_failure_rate * 2.0,
            churn_bias=self.churn_bias - 0.3,
            churn_payment_failures=self.churn_payment_failures * 2.0,
            churn_engagement=self.churn_engagement * 0.6,
            upsell_engagement=self.upsell_engagement * 0.5,
            upsell_bias=self.upsell_bias + 0.4,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SimConfig:
    """Sizes, calendar and seed of one simulation.

    ``days`` of history start at ``start_ms`` (UTC epoch ms). Each user gets one churn decision at
    the start of a day drawn from ``[decision_min_day, days - horizon_days]``; its label is known
    ``horizon_days`` later (or when the user leaves). Offers get a response within
    ``offer_response_days``. From day ``drift_day`` (if set) ``drift_params`` apply (default
    ``params.drifted()``).
    """

    n_users: int = 10_000
    n_hosts: int = 16
    days: int = 42
    start_ms: int = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    horizon_days: int = 7
    decision_min_day: int = 28
    offer_response_days: float = 2.0
    log_lines_per_host_day: int = 50
    signal_half_life_days: float = 7.0
    seed: int = 0
    drift_day: int | None = None
    params: BehaviourParams = field(default_factory=BehaviourParams)
    drift_params: BehaviourParams | None = None

    def __post_init__(self) -> None:
        from streams.errors import ConfigError

        if self.n_users < 1 or self.n_hosts < 0 or self.days < 2:
            raise ConfigError(
                f"simulation sizes: expected n_users >= 1, n_hosts >= 0, days >= 2, got "
                f"n_users={self.n_users}, n_hosts={self.n_hosts}, days={self.days}"
            )
        if not 7 <= self.decision_min_day <= self.days - self.horizon_days:
            raise ConfigError(
                "simulation calendar: expected 7 <= decision_min_day <= days - horizon_days, got "
                f"decision_min_day={self.decision_min_day}, days={self.days}, "
                f"horizon_days={self.horizon_days}"
            )
        if self.drift_day is not None and not 0 < self.drift_day < self.days:
            raise ConfigError(
                f"drift_day: expected 0 < drift_day < {self.days}, got {self.drift_day}"
            )

    def params_after_drift(self) -> BehaviourParams:
        return self.drift_params if self.drift_params is not None else self.params.drifted()

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.days * DAY_MS
