"""Kafka security (TLS, SASL) from the settings, for every Kafka client library we use.

:func:`kafka_security` merges the ``STREAMSCORE_KAFKA_PROPERTIES`` file (librdkafka's key
names) with the ``STREAMSCORE_KAFKA_*`` security variables (which win) and checks that the
combination is complete. From that one :class:`KafkaSecurity`:

- :func:`librdkafka_config`: the keys for confluent-kafka's Producer, Consumer and AdminClient;
- :func:`aiokafka_config`: the keyword arguments of aiokafka's clients;
- :func:`faust_credentials`: ``faust.App(broker_credentials=...)``, which Faust turns into the
  same aiokafka arguments for its consumer, producers and topic creation.

With no security setting at all, each returns what it returned before these settings existed
(no keys, PLAINTEXT, ``None``): the default stays plaintext.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from streams.errors import ConfigError

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

    from streams.settings import Settings

__all__ = [
    "PROPERTIES_KEYS",
    "KafkaSecurity",
    "aiokafka_config",
    "faust_credentials",
    "kafka_security",
    "librdkafka_config",
    "read_properties",
    "ssl_context",
]

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

PROPERTIES_KEYS: dict[str, str] = {
    "security.protocol": "protocol",
    "sasl.mechanism": "mechanism",
    "sasl.mechanisms": "mechanism",  # librdkafka's older spelling of the same key
    "sasl.username": "username",
    "sasl.password": "password",
    "ssl.ca.location": "ca_location",
    "ssl.certificate.location": "certfile",
    "ssl.key.location": "keyfile",
    "ssl.key.password": "key_password",
    "ssl.endpoint.identification.algorithm": "endpoint_identification",
}
"""The librdkafka keys a properties file may hold, and what each sets. Only keys that all three
client libraries can honour are accepted: a key the Faust worker would silently ignore is an
error, not a half-secured deployment."""

_VARIABLES: dict[str, str] = {
    "protocol": "STREAMSCORE_KAFKA_SECURITY_PROTOCOL",
    "mechanism": "STREAMSCORE_KAFKA_SASL_MECHANISM",
    "username": "STREAMSCORE_KAFKA_SASL_USERNAME",
    "password": "STREAMSCORE_KAFKA_SASL_PASSWORD",
    "ca_location": "STREAMSCORE_KAFKA_SSL_CA_LOCATION",
    "certfile": "STREAMSCORE_KAFKA_SSL_CERTFILE",
    "keyfile": "STREAMSCORE_KAFKA_SSL_KEYFILE",
}
_SETTING_OF = {
    "protocol": "kafka_security_protocol",
    "mechanism": "kafka_sasl_mechanism",
    "username": "kafka_sasl_username",
    "password": "kafka_sasl_password",
    "ca_location": "kafka_ssl_ca_location",
    "certfile": "kafka_ssl_certfile",
    "keyfile": "kafka_ssl_keyfile",
}
_KEY_OF = {
    "protocol": "security.protocol",
    "mechanism": "sasl.mechanism",
    "username": "sasl.username",
    "password": "sasl.password",
    "ca_location": "ssl.ca.location",
    "certfile": "ssl.certificate.location",
    "keyfile": "ssl.key.location",
    "key_password": "ssl.key.password",
}
_MASK = "**********"


@dataclass(frozen=True)
class KafkaSecurity:
    """How every Kafka client authenticates and encrypts (see the module docstring)."""

    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    ca_location: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    key_password: SecretStr | None = field(default=None, repr=False)
    verify_hostname: bool = True

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def describe(self) -> dict[str, Any]:
        """Plain values with the secrets masked."""
        return {
            "protocol": self.protocol,
            "mechanism": self.mechanism,
            "username": self.username,
            "password": _MASK if self.password else None,
            "ca_location": str(self.ca_location) if self.ca_location else None,
            "certfile": str(self.certfile) if self.certfile else None,
            "keyfile": str(self.keyfile) if self.keyfile else None,
            "key_password": _MASK if self.key_password else None,
            "verify_hostname": self.verify_hostname,
        }


def read_properties(path: Path) -> dict[str, str]:
    """The ``key=value`` (or ``key: value``) lines of a properties file; ``#`` and ``!`` start
    comments. Raises :class:`ConfigError` for a missing file, a line without a separator, or
    a key outside :data:`PROPERTIES_KEYS`."""
    where = f"STREAMSCORE_KAFKA_PROPERTIES={path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"reading {where}: expected a readable properties file, got {exc}"
        ) from exc
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i > 0), default=-1)
        if cut < 0:
            raise ConfigError(f"{where}, line {number}: expected key=value, got {line[:80]!r}")
        key, value = line[:cut].strip(), line[cut + 1 :].strip()
        if key not in PROPERTIES_KEYS:
            raise ConfigError(
                f"{where}, line {number}: unknown or unsupported key {key!r}; expected some of "
                f"{', '.join(PROPERTIES_KEYS)}"
            )
        out[key] = value
    return out


def kafka_security(settings: Settings) -> KafkaSecurity:
    """The effective security settings: the properties file, then the variables over it.

    Raises :class:`ConfigError` naming the variables (and properties keys) to set when the
    combination is incomplete or contradictory, or a file it names does not exist.
    """
    values: dict[str, Any] = {}
    source: dict[str, str] = {}
    if settings.kafka_properties is not None:
        for key, value in read_properties(settings.kafka_properties).items():
            name = PROPERTIES_KEYS[key]
            if value == "":
                continue
            values[name] = value
            source[name] = f"{key} in STREAMSCORE_KAFKA_PROPERTIES={settings.kafka_properties}"
    for name, attr in _SETTING_OF.items():
        value = getattr(settings, attr)
        if value is not None:
            values[name] = value
            source[name] = _VARIABLES[name]

    protocol = str(values.get("protocol", "PLAINTEXT")).upper()
    if protocol not in PROTOCOLS:
        raise ConfigError(
            f"Kafka security protocol ({source['protocol']}): expected one of "
            f"{', '.join(PROTOCOLS)}, got {values['protocol']!r}"
        )
    mechanism = values.get("mechanism")
    if mechanism is not None:
        mechanism = str(mechanism).upper()
        if mechanism not in MECHANISMS:
            raise ConfigError(
                f"Kafka SASL mechanism ({source['mechanism']}): expected one of "
                f"{', '.join(MECHANISMS)}, got {values['mechanism']!r}"
            )
    endpoint = str(values.get("endpoint_identification", "https")).lower()
    if endpoint not in ("https", "none", ""):
        raise ConfigError(
            f"ssl.endpoint.identification.algorithm in STREAMSCORE_KAFKA_PROPERTIES: expected "
            f"https or none, got {values['endpoint_identification']!r}"
        )

    def secret(name: str) -> SecretStr | None:
        value = values.get(name)
        return value if value is None or isinstance(value, SecretStr) else SecretStr(str(value))

    sec = KafkaSecurity(
        protocol=protocol,
        mechanism=mechanism,
        username=values.get("username"),
        password=secret("password"),
        ca_location=Path(values["ca_location"]) if "ca_location" in values else None,
        certfile=Path(values["certfile"]) if "certfile" in values else None,
        keyfile=Path(values["keyfile"]) if "keyfile" in values else None,
        key_password=secret("key_password"),
        verify_hostname=endpoint != "none",
    )
    _check(sec, source)
    return sec


def _named(names: list[str], source: dict[str, str]) -> str:
    return ", ".join(source.get(n) or f"{_VARIABLES.get(n, _KEY_OF[n])}" for n in names)


def _check(sec: KafkaSecurity, source: dict[str, str]) -> None:
    sasl_given = [n for n in ("mechanism", "username", "password") if getattr(sec, n) is not None]
    if sec.sasl:
        missing = [n for n in ("mechanism", "username", "password") if getattr(sec, n) is None]
        if missing:
            raise ConfigError(
                f"Kafka security protocol {sec.protocol} needs a SASL mechanism, user name and "
                f"password; missing: {', '.join(_VARIABLES[n] for n in missing)} (or "
                f"{', '.join(_KEY_OF[n] for n in missing)} in STREAMSCORE_KAFKA_PROPERTIES)"
            )
    elif sasl_given:
        raise ConfigError(
            f"SASL settings are given ({_named(sasl_given, source)}) but the Kafka security "
            f"protocol is {sec.protocol}; expected STREAMSCORE_KAFKA_SECURITY_PROTOCOL=SASL_SSL "
            "(or SASL_PLAINTEXT), or no SASL settings"
        )
    tls_given = [
        n for n in ("ca_location", "certfile", "keyfile", "key_password") if getattr(sec, n)
    ]
    if tls_given and not sec.tls:
        raise ConfigError(
            f"TLS settings are given ({_named(tls_given, source)}) but the Kafka security "
            f"protocol is {sec.protocol}; expected STREAMSCORE_KAFKA_SECURITY_PROTOCOL=SSL or "
            "SASL_SSL, or no TLS settings"
        )
    if (sec.certfile is None) != (sec.keyfile is None):
        given, missing = ("certfile", "keyfile") if sec.keyfile is None else ("keyfile", "certfile")
        raise ConfigError(
            f"a TLS client certificate needs both its certificate and its key: "
            f"{_named([given], source)} is set, {_VARIABLES[missing]} is not"
        )
    if sec.key_password is not None and sec.keyfile is None:
        raise ConfigError(
            "ssl.key.password is set in STREAMSCORE_KAFKA_PROPERTIES but no key is: expected "
            "STREAMSCORE_KAFKA_SSL_KEYFILE (or ssl.key.location) too"
        )
    for name in ("ca_location", "certfile", "keyfile"):
        path = getattr(sec, name)
        if path is not None and not path.is_file():
            raise ConfigError(
                f"{_named([name], source)}: expected a PEM file, found no file at {path}"
            )


# --- per library -----------------------------------------------------------------------------


def librdkafka_config(settings: Settings) -> dict[str, str]:
    """confluent-kafka (librdkafka) configuration keys; empty for plain PLAINTEXT."""
    sec = kafka_security(settings)
    if sec.protocol == "PLAINTEXT":
        return {}
    out = {"security.protocol": sec.protocol.lower()}
    if sec.sasl:
        out["sasl.mechanism"] = str(sec.mechanism)
        out["sasl.username"] = str(sec.username)
        out["sasl.password"] = sec.password.get_secret_value() if sec.password else ""
    if sec.tls:
        if sec.ca_location:
            out["ssl.ca.location"] = str(sec.ca_location)
        if sec.certfile and sec.keyfile:
            out["ssl.certificate.location"] = str(sec.certfile)
            out["ssl.key.location"] = str(sec.keyfile)
        if sec.key_password:
            out["ssl.key.password"] = sec.key_password.get_secret_value()
        out["ssl.endpoint.identification.algorithm"] = "https" if sec.verify_hostname else "none"
    return out


def ssl_context(sec: KafkaSecurity) -> ssl.SSLContext:
    """A client TLS context: the CA file (else the system's CAs), the client certificate if
    any, hostname checks unless the properties file turned them off."""
    try:
        context = ssl.create_default_context(
            cafile=str(sec.ca_location) if sec.ca_location else None
        )
        if sec.certfile and sec.keyfile:
            context.load_cert_chain(
                str(sec.certfile),
                str(sec.keyfile),
                password=sec.key_password.get_secret_value() if sec.key_password else None,
            )
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            "building the Kafka TLS context from STREAMSCORE_KAFKA_SSL_CA_LOCATION="
            f"{sec.ca_location}, STREAMSCORE_KAFKA_SSL_CERTFILE={sec.certfile}, "
            f"STREAMSCORE_KAFKA_SSL_KEYFILE={sec.keyfile}: expected PEM files, got {exc}"
        ) from exc
    if not sec.verify_hostname:
        context.check_hostname = False
    return context


def aiokafka_config(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka's ``AIOKafkaProducer``/``AIOKafkaConsumer``."""
    sec = kafka_security(settings)
    out: dict[str, Any] = {"security_protocol": sec.protocol}
    if sec.sasl:
        out["sasl_mechanism"] = sec.mechanism
        out["sasl_plain_username"] = sec.username
        out["sasl_plain_password"] = sec.password.get_secret_value() if sec.password else None
    if sec.tls:
        out["ssl_context"] = ssl_context(sec)
    return out


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """``faust.App(broker_credentials=...)``: None for PLAINTEXT (Faust's default)."""
    import faust

    sec = kafka_security(settings)
    if sec.protocol == "PLAINTEXT":
        return None
    context = ssl_context(sec) if sec.tls else None
    if not sec.sasl:
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=sec.username,
        password=sec.password.get_secret_value() if sec.password else None,
        ssl_context=context,
        mechanism=sec.mechanism,
    )
