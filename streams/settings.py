"""One frozen, validated settings object, built once.

Every environment variable streamscore reads is listed in :data:`ENVIRONMENT`, next to the
setting it feeds. Values given explicitly to :func:`load_settings` win over the environment, and
the environment wins over the defaults. An unknown ``STREAMSCORE_*`` variable is an error, not a
silently ignored typo.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from streams.errors import ConfigError
from streams.kafka_security import kafka_security

__all__ = ["ENVIRONMENT", "SNAPSHOT_MODES", "Settings", "load_settings"]

KAFKA_VERSION = "4.1.1"
"""The Apache Kafka release that ``streamscore kafka up`` fetches and runs (KRaft, Java 17+)."""


SNAPSHOT_MODES = r"^(all|none|sample:(1|1\.0*|0?\.\d*[1-9]\d*))$"
"""The accepted ``snapshots`` values: all, none, or sample:<fraction in (0, 1]>."""


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "streamscore"


_KAFKA_SECURITY_FIELDS = (
    "kafka_security_protocol",
    "kafka_sasl_mechanism",
    "kafka_sasl_username",
    "kafka_sasl_password",
    "kafka_ssl_ca_location",
    "kafka_ssl_certfile",
    "kafka_ssl_keyfile",
    "kafka_properties",
)
"""The Kafka security settings (empty means unset; any one given means security is configured)."""


# The local broker is a one-node development broker that starts often (`kafka up`, the demo,
# the tests): the client compiler only and the serial collector start it on half the CPU of
# Kafka's G1 defaults (3.4 against 7.0 CPU-s here) and cost less for its first 200,000 records
# too (1.3 against 3.0 CPU-s). A long-running broker with heavy traffic wants -XX:+UseG1GC.
LOCAL_BROKER_JVM_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


class Settings(BaseModel):
    """streamscore's configuration. Immutable; build it with :func:`load_settings`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_dir: Path = Field(
        Path("var"),
        description="Where broker data, models, logs and caches live (git-ignored).",
    )
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Downloads shared by every checkout: the Kafka broker's jars.",
    )
    kafka_bootstrap_servers: str | None = Field(
        None,
        description="An existing Kafka cluster (host:port,...). When set, nothing local starts.",
    )
    kafka_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port of the local broker's client listener; 0 picks a free one.",
    )
    kafka_heap_mb: int = Field(512, ge=128, le=65536, description="Local broker JVM heap (MiB).")
    kafka_jvm_opts: str = Field(
        LOCAL_BROKER_JVM_OPTS,
        description="JVM options of the local broker after its heap (whitespace-separated), "
        "like Kafka's KAFKA_JVM_PERFORMANCE_OPTS.",
    )
    kafka_version: str = Field(KAFKA_VERSION, description="Apache Kafka release to run locally.")
    kafka_start_timeout_s: float = Field(
        120.0, gt=0, description="How long `kafka up` waits for the broker to answer."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = (
        Field(
            None,
            description="How every Kafka client talks to the brokers; unset: the properties "
            "file's security.protocol, else PLAINTEXT.",
        )
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism (with a SASL_* security protocol)."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password (masked when printed)."
    )
    kafka_ssl_ca_location: Path | None = Field(
        None,
        description="PEM file of the CA(s) that signed the brokers' certificates; unset: the "
        "system's trusted CAs.",
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="PEM client certificate, for brokers that require TLS client auth."
    )
    kafka_ssl_keyfile: Path | None = Field(
        None, description="PEM private key of the client certificate (unencrypted)."
    )
    kafka_properties: Path | None = Field(
        None,
        description="A properties file of security settings in librdkafka's key names "
        "(security.protocol=SASL_SSL, sasl.username=...); the variables above win over it.",
    )
    topic_prefix: str = Field(
        "streamscore.",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="Prepended to every topic name (lets several deployments share a cluster).",
    )
    kernel_target: Literal["cpu", "cuda", "auto"] = Field(
        "auto", description="Where Numba kernels run; auto picks CUDA when a GPU is present."
    )
    processing_guarantee: Literal["exactly_once", "at_least_once"] = Field(
        "exactly_once", description="Kafka delivery guarantee of the stream workers."
    )
    table_store: Literal["rocksdb", "memory"] = Field(
        "rocksdb",
        description="Where workers keep per-entity window state: rocksdb (rocksdict, one "
        "store per input partition under the state directory, kept across restarts) or memory "
        "(rebuilt from the changelog at every assignment). Both are changelog-backed.",
    )
    batch_max: int = Field(
        5000,
        ge=1,
        le=1_000_000,
        description="Most records the scoring loop takes into one batch (it takes whatever "
        "librdkafka has queued, up to this; nothing waits for a batch to fill).",
    )
    commit_interval_s: float = Field(
        0.1,
        gt=0,
        le=60,
        description="How often a worker commits: one transaction per interval (exactly-once) "
        "holding every batch scored since the last, or an offset commit after delivery "
        "(at-least-once).",
    )
    dead_letter_max_value_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,  # the largest input topic's record limit (streams.topics)
        description="Longest record value a dead letter keeps whole (bytes); a longer one is "
        "kept as its first this-many bytes plus its length and SHA-256 (value_truncated), so "
        "a dead letter always fits the dead-letters topic. Keys are capped at 16 KiB.",
    )
    score_results: bool = Field(
        True,
        description="Whether workers produce one ScoreResult record per event and model to "
        "`scores` (on) or not (off): `score-batches` carries the same results as columns, "
        "which is what a bulk-producer deployment reads and far cheaper to make and send.",
    )
    snapshots: str = Field(
        "all",
        description="Which events get a feature-snapshot row on `features` (what retraining "
        "and drift monitoring read): all (every event; the point-in-time join is exact), "
        "sample:<fraction> (the events whose id hashes below the fraction, the same in every "
        "worker and replay; the join then uses the entity's last sampled event before a "
        "decision, an approximation, and drops decisions with none), or none (no retraining "
        "or drift monitoring from the streams). See streams/pipeline/snapshots.py.",
    )
    web_port: int = Field(
        6066, ge=0, le=65535, description="Port of a worker's web server (/metrics; 0: off)."
    )
    web_host: str = Field(
        "127.0.0.1",
        description="Address a worker's web server (/metrics) binds; 0.0.0.0 in a container.",
    )
    web_token: SecretStr | None = Field(
        None, description="If set, the web GUI and metrics require this bearer token."
    )
    gui_host: str = Field(
        "127.0.0.1",
        description="Address `streamscore gui` binds (0.0.0.0 in a container; set a token then).",
    )
    gui_port: int = Field(6067, ge=1, le=65535, description="Port of `streamscore gui`.")
    retrain_interval_s: float = Field(
        0.0,
        ge=0,
        description="How often the leader worker retrains each task from the feature and "
        "outcome streams (seconds); 0 turns continuous learning off.",
    )
    retrain_tasks: str = Field(
        "",
        description="Which tasks the leader retrains, comma-separated (empty: every task the "
        "worker scores).",
    )
    retrain_min_samples: int = Field(
        500,
        ge=1,
        description="Fewest labelled held-out rows (and training rows) a retrain needs before "
        "the gate may promote its challenger.",
    )
    promote_metric: Literal["log_loss", "auc"] = Field(
        "log_loss",
        description="What the gate compares on the held-out rows: log loss (ranking and "
        "calibration; drift that shifts base rates shows here first) or AUC (ranking only).",
    )
    promote_margin: float = Field(
        0.01,
        ge=0,
        le=1,
        description="How much better (log loss lower, or AUC higher) the challenger must be "
        "than the champion on the same held-out rows to be promoted; the other metric may not "
        "be worse by more than this.",
    )
    retrain_holdout: float = Field(
        0.3,
        gt=0,
        lt=1,
        description="Share of the labelled window, the most recent by decision time, held out "
        "to judge challenger against champion.",
    )
    retrain_max_rows: int = Field(
        2_000_000,
        ge=1000,
        description="Most feature-snapshot rows the leader keeps in memory for retraining "
        "(oldest dropped first).",
    )
    retrain_epochs: int = Field(
        8, ge=1, le=1000, description="Training epochs of a challenger trained from the streams."
    )
    drift_threshold: float = Field(
        0.2,
        gt=0,
        description="Population stability index above which a monitored feature counts as "
        "drifted; drift on a full window requests an early retrain.",
    )
    drift_warmup_rows: int = Field(
        100_000,
        ge=0,
        description="Snapshot rows the leader skips after a champion is installed (window "
        "state warming up) before the next drift_window_rows rows become the drift reference.",
    )
    drift_window_rows: int = Field(
        20_000,
        ge=100,
        description="Rows of the rolling window that drift is measured on (and the fewest rows "
        "before drift can trigger a retrain).",
    )

    @field_validator("snapshots")
    @classmethod
    def _snapshot_mode(cls, value: str) -> str:
        if not re.match(SNAPSHOT_MODES, value.strip()):
            raise ValueError("expected all, none or sample:<fraction in (0, 1]>")
        return value.strip()

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _servers_look_like_host_port(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected a comma-separated list of host:port, got {value!r}")
        return value.strip()

    @field_validator(*_KAFKA_SECURITY_FIELDS, mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip() == "" else value

    @property
    def kafka_security_configured(self) -> bool:
        """Whether any Kafka security setting (or a properties file) is given."""
        return any(getattr(self, name) is not None for name in _KAFKA_SECURITY_FIELDS)

    @property
    def kafka_state_dir(self) -> Path:
        """Local broker data, log, config and PID file."""
        return self.state_dir / "kafka"

    @property
    def kafka_dist_dir(self) -> Path:
        """Where the pinned Kafka release's jars are cached (outside the repository)."""
        return self.cache_dir / f"kafka-{self.kafka_version}"

    def describe(self) -> dict[str, Any]:
        """The settings as plain values, with secrets masked."""
        out = self.model_dump()
        for name in _SECRETS:
            out[name] = "**********" if getattr(self, name) else None
        return {k: str(v) if isinstance(v, Path) else v for k, v in out.items()}


_SECRETS = frozenset({"web_token", "kafka_sasl_password"})

ENVIRONMENT: dict[str, str] = {
    "STREAMSCORE_STATE_DIR": "state_dir",
    "STREAMSCORE_CACHE_DIR": "cache_dir",
    "KAFKA_BOOTSTRAP_SERVERS": "kafka_bootstrap_servers",
    "STREAMSCORE_KAFKA_PORT": "kafka_port",
    "STREAMSCORE_KAFKA_HEAP_MB": "kafka_heap_mb",
    "STREAMSCORE_KAFKA_JVM_OPTS": "kafka_jvm_opts",
    "STREAMSCORE_KAFKA_VERSION": "kafka_version",
    "STREAMSCORE_KAFKA_START_TIMEOUT_S": "kafka_start_timeout_s",
    "STREAMSCORE_KAFKA_SECURITY_PROTOCOL": "kafka_security_protocol",
    "STREAMSCORE_KAFKA_SASL_MECHANISM": "kafka_sasl_mechanism",
    "STREAMSCORE_KAFKA_SASL_USERNAME": "kafka_sasl_username",
    "STREAMSCORE_KAFKA_SASL_PASSWORD": "kafka_sasl_password",
    "STREAMSCORE_KAFKA_SSL_CA_LOCATION": "kafka_ssl_ca_location",
    "STREAMSCORE_KAFKA_SSL_CERTFILE": "kafka_ssl_certfile",
    "STREAMSCORE_KAFKA_SSL_KEYFILE": "kafka_ssl_keyfile",
    "STREAMSCORE_KAFKA_PROPERTIES": "kafka_properties",
    "STREAMSCORE_TOPIC_PREFIX": "topic_prefix",
    "STREAMSCORE_KERNEL_TARGET": "kernel_target",
    "STREAMSCORE_PROCESSING_GUARANTEE": "processing_guarantee",
    "STREAMSCORE_TABLE_STORE": "table_store",
    "STREAMSCORE_BATCH_MAX": "batch_max",
    "STREAMSCORE_COMMIT_INTERVAL_S": "commit_interval_s",
    "STREAMSCORE_DEAD_LETTER_MAX_VALUE_BYTES": "dead_letter_max_value_bytes",
    "STREAMSCORE_SCORE_RESULTS": "score_results",
    "STREAMSCORE_SNAPSHOTS": "snapshots",
    "STREAMSCORE_WEB_PORT": "web_port",
    "STREAMSCORE_WEB_HOST": "web_host",
    "STREAMSCORE_WEB_TOKEN": "web_token",
    "STREAMSCORE_GUI_HOST": "gui_host",
    "STREAMSCORE_GUI_PORT": "gui_port",
    "STREAMSCORE_RETRAIN_INTERVAL_S": "retrain_interval_s",
    "STREAMSCORE_RETRAIN_MIN_SAMPLES": "retrain_min_samples",
    "STREAMSCORE_RETRAIN_TASKS": "retrain_tasks",
    "STREAMSCORE_PROMOTE_MARGIN": "promote_margin",
    "STREAMSCORE_PROMOTE_METRIC": "promote_metric",
    "STREAMSCORE_RETRAIN_HOLDOUT": "retrain_holdout",
    "STREAMSCORE_RETRAIN_MAX_ROWS": "retrain_max_rows",
    "STREAMSCORE_RETRAIN_EPOCHS": "retrain_epochs",
    "STREAMSCORE_DRIFT_THRESHOLD": "drift_threshold",
    "STREAMSCORE_DRIFT_WINDOW_ROWS": "drift_window_rows",
    "STREAMSCORE_DRIFT_WARMUP_ROWS": "drift_warmup_rows",
}
"""Every environment variable streamscore reads, mapped to the setting it feeds."""


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from defaults, then ``env`` (default ``os.environ``), then ``overrides``.

    Raises :class:`~streams.errors.ConfigError` naming the variable or key at fault, for an
    unknown ``STREAMSCORE_*`` variable, an unknown override, a value that fails validation, or
    Kafka security settings that are incomplete or contradictory (checked here, so that a bad
    combination fails at start, not at the first Kafka client).
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for name, value in env.items():
        if name in ENVIRONMENT:
            values[ENVIRONMENT[name]] = value
        elif name.startswith("STREAMSCORE_"):
            known = ", ".join(sorted(k for k in ENVIRONMENT if k.startswith("STREAMSCORE_")))
            raise ConfigError(f"unknown environment variable {name}; expected one of: {known}")
    unknown = set(overrides) - set(Settings.model_fields)
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {sorted(unknown)}; "
            f"expected some of {sorted(Settings.model_fields)}"
        )
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        field_to_env = {f: e for e, f in ENVIRONMENT.items()}
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            where = f"{field} (env {field_to_env[field]})" if field in field_to_env else field
            found = "'**********'" if field in _SECRETS else repr(err.get("input"))
            problems.append(f"{where}: {err['msg']}, got {found}")
        raise ConfigError("invalid settings: " + "; ".join(problems)) from exc
    if settings.kafka_security_configured:
        kafka_security(settings)  # the combination and the properties file must hold together
    return settings
