"""Kafka security settings: validation, masking, and the config each client library gets."""

from __future__ import annotations

import ast
import ssl
from pathlib import Path

import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from streams.errors import ConfigError
from streams.kafka.clients import make_consumer, security_config
from streams.kafka_security import (
    aiokafka_config,
    faust_credentials,
    kafka_security,
    librdkafka_config,
)
from streams.settings import load_settings

REPO = Path(__file__).resolve().parents[3]

# A CA certificate as `kafka up --secure` makes one (only parsed: no connection is made).
CA_PEM = """-----BEGIN CERTIFICATE-----
MIIDAjCCAeqgAwIBAgIILenJGLR5udowDQYJKoZIhvcNAQELBQAwHzEdMBsGA1UE
AxMUc3RyZWFtc2NvcmUgbG9jYWwgQ0EwHhcNMjYxMjAxMTcyNDU1WhcNMzYxMTI4
MTcyNDU1WjAfMR0wGwYDVQQDExRzdHJlYW1zY29yZSBsb2NhbCBDQTCCASIwDQYJ
KoZIhvcNAQEBBQADggEPADCCAQoCggEBAO8mwW3BJ6uFv1EEa2ZeBfJh7dtlTeoj
Dhke9I+PT74wXKAdSlzFRQiwzUBZCvj7ZcT8V23rsgkOFBf+2xDFeUYgscK//1RS
CTU+VytJ7zgQMsirWxQNB0daQ3pEzhSuFXmaifduIu5U7HNm+9ZtWm9d3c7BOwLZ
qWXpR/JrLNAkkUxKGnf8AyaU4kPopLYhlQ28JC93aS8ov6Zl+ukUxxNXrwS34j9C
avInZjq6t6znHeB53ewEg+UAvwaf/CfrZSaaUUBcwL757EgCUq+c9QvkNBsJEawj
44ayZ4woxgAO6+GeqK6rXn5rsIKZoB+tOhZmZ49K13t4KzTEBUAPCesCAwEAAaNC
MEAwHQYDVR0OBBYEFOXZIoCVrIznJVs/B30+NKeMMzGbMA4GA1UdDwEB/wQEAwIB
BjAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBCwUAA4IBAQDtirSIHLtKH1x+
rI7AS1varzdoipPdh7WXKUdIB2HCeQm13nm6FK7Drhlhv7QtWsvwwRUlsztfN4As
+Qp5dI5Tbh4ACuod1Y/r5ACw06kidudsDNZIytw1PFtkVGkCzbTbGYXXK5hiGhBt
GlLhM0T2leGJYW5NpOYki8E9ZCYK/L/F8GIpOR1GI7mIP3Vmz8rqGfnigtjjFdUV
vqwCGEZRv5YMsZd2vaGZ9mngWGcdkUiGPhzgTmEOYiyZn6UELssf0VFgWgIqdR4o
+Qz6sonZ/DFtpMpYyTdCzrk1ZhcuDqn3DdLXB/cw1tiyxx6gbioPAcN2fZ0Sj8k4
9qESR0me
-----END CERTIFICATE-----
"""

SASL = {
    "STREAMSCORE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "STREAMSCORE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "STREAMSCORE_KAFKA_SASL_USERNAME": "alice",
    "STREAMSCORE_KAFKA_SASL_PASSWORD": "s3cret-pw",
}


def test_no_security_settings_leave_every_client_plaintext():
    s = load_settings(env={})
    assert not s.kafka_security_configured
    assert kafka_security(s).protocol == "PLAINTEXT"
    assert librdkafka_config(s) == {} and security_config(s) == {}
    assert faust_credentials(s) is None
    assert aiokafka_config(s) == {"security_protocol": "PLAINTEXT"}


def test_sasl_protocol_without_credentials_names_the_missing_variables():
    with pytest.raises(ConfigError) as err:
        load_settings(env={"STREAMSCORE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
    for name in (
        "STREAMSCORE_KAFKA_SASL_MECHANISM",
        "STREAMSCORE_KAFKA_SASL_USERNAME",
        "STREAMSCORE_KAFKA_SASL_PASSWORD",
    ):
        assert name in str(err.value)
    with pytest.raises(ConfigError, match="STREAMSCORE_KAFKA_SASL_PASSWORD") as err:
        load_settings(env={k: v for k, v in SASL.items() if "PASSWORD" not in k})
    assert "USERNAME" not in str(err.value).split("missing:")[1].split("(")[0]


def test_contradictions_are_errors_not_silent_plaintext(tmp_path):
    with pytest.raises(ConfigError, match=r"SASL settings .*STREAMSCORE_KAFKA_SASL_USERNAME"):
        load_settings(env={"STREAMSCORE_KAFKA_SASL_USERNAME": "alice"})
    ca = tmp_path / "ca.pem"
    ca.write_text(CA_PEM)
    with pytest.raises(ConfigError, match="TLS settings .*SASL_PLAINTEXT"):
        load_settings(
            env={
                **SASL,
                "STREAMSCORE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "STREAMSCORE_KAFKA_SSL_CA_LOCATION": str(ca),
            }
        )
    with pytest.raises(ConfigError, match="STREAMSCORE_KAFKA_SSL_KEYFILE"):
        load_settings(
            env={
                "STREAMSCORE_KAFKA_SECURITY_PROTOCOL": "SSL",
                "STREAMSCORE_KAFKA_SSL_CERTFILE": str(ca),
            }
        )
    with pytest.raises(ConfigError, match=r"STREAMSCORE_KAFKA_SSL_CA_LOCATION.*no file at"):
        load_settings(env={**SASL, "STREAMSCORE_KAFKA_SSL_CA_LOCATION": str(tmp_path / "no")})
    with pytest.raises(ConfigError, match="STREAMSCORE_KAFKA_SASL_MECHANISM"):
        load_settings(env={**SASL, "STREAMSCORE_KAFKA_SASL_MECHANISM": "GSSAPI"})


def test_password_is_masked_when_printed():
    s = load_settings(env=SASL)
    assert "s3cret-pw" not in str(s.describe()) and "s3cret-pw" not in repr(s)
    assert s.describe()["kafka_sasl_password"] == "**********"
    sec = kafka_security(s)
    assert "s3cret-pw" not in repr(sec) and "s3cret-pw" not in str(sec.describe())


def test_variables_give_each_library_the_same_sasl_ssl_settings():
    s = load_settings(env=SASL)
    assert librdkafka_config(s) == {
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "alice",
        "sasl.password": "s3cret-pw",
        "ssl.endpoint.identification.algorithm": "https",
    }
    aio = aiokafka_config(s)
    assert isinstance(aio.pop("ssl_context"), ssl.SSLContext)
    assert aio == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "alice",
        "sasl_plain_password": "s3cret-pw",
    }
    # Faust hands its credentials to aiokafka: it must arrive at the same arguments.
    creds = faust_credentials(s)
    assert isinstance(creds, faust.SASLCredentials)
    via_faust = dict(credentials_to_aiokafka_auth(creds))
    context = via_faust.pop("ssl_context")
    assert isinstance(context, ssl.SSLContext) and context.check_hostname
    assert via_faust == aio


def test_properties_file_in_librdkafka_keys_with_variables_winning(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(CA_PEM)
    props = tmp_path / "client.properties"
    props.write_text(
        "# comment\n"
        "security.protocol=SASL_SSL\n"
        "sasl.mechanisms = SCRAM-SHA-256\n"
        "sasl.username: bob\n"
        "sasl.password=from-file\n"
        f"ssl.ca.location={ca}\n"
        "ssl.endpoint.identification.algorithm=none\n"
    )
    s = load_settings(env={"STREAMSCORE_KAFKA_PROPERTIES": str(props)})
    conf = librdkafka_config(s)
    assert conf["sasl.mechanism"] == "SCRAM-SHA-256" and conf["sasl.username"] == "bob"
    assert conf["sasl.password"] == "from-file" and conf["ssl.ca.location"] == str(ca)
    assert conf["ssl.endpoint.identification.algorithm"] == "none"
    assert aiokafka_config(s)["ssl_context"].check_hostname is False
    over = load_settings(
        env={"STREAMSCORE_KAFKA_PROPERTIES": str(props), "STREAMSCORE_KAFKA_SASL_PASSWORD": "v"}
    )
    assert librdkafka_config(over)["sasl.password"] == "v"


def test_properties_file_rejects_keys_the_worker_could_not_honour(tmp_path):
    props = tmp_path / "client.properties"
    props.write_text("security.protocol=SASL_SSL\nsasl.kerberos.service.name=kafka\n")
    with pytest.raises(ConfigError, match=r"line 2: unknown or unsupported key"):
        load_settings(env={"STREAMSCORE_KAFKA_PROPERTIES": str(props)})
    props.write_text("security.protocol=SASL_SSL\nsasl.username=x\n")
    with pytest.raises(ConfigError, match="sasl.mechanism"):
        load_settings(env={"STREAMSCORE_KAFKA_PROPERTIES": str(props)})
    with pytest.raises(ConfigError, match="readable properties file"):
        load_settings(env={"STREAMSCORE_KAFKA_PROPERTIES": str(tmp_path / "missing")})


def test_clients_get_the_security_config_and_an_auth_error_callback():
    s = load_settings(env=SASL)
    conf = security_config(s)
    assert conf["security.protocol"] == "sasl_ssl" and callable(conf["error_cb"])
    make_consumer("127.0.0.1:1", settings=s).close()  # librdkafka accepts every key


# --- every Kafka client goes through the security function -------------------------------

_FACTORIES = {"make_producer", "make_consumer", "make_admin", "read_topic", "list_topics"}


def _calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(), str(path))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")


def test_every_kafka_client_in_streams_is_built_with_the_security_settings():
    bare = []
    for path in sorted((REPO / "streams").rglob("*.py")):
        rel = path.relative_to(REPO)
        for call in _calls(path):
            name = _name(call)
            keywords = {k.arg for k in call.keywords}
            where = f"{rel}:{call.lineno} {name}"
            if name in ("Consumer", "Producer", "AdminClient") and rel.name != "clients.py":
                bare.append(f"{where}: build it with streams.kafka.clients")
            elif name in ("AIOKafkaProducer", "AIOKafkaConsumer"):
                bare.append(f"{where}: pass streams.kafka_security.aiokafka_config(settings)")
            elif name in _FACTORIES and rel.name != "clients.py":
                has_settings = "settings" in keywords or (
                    name == "make_admin" and len(call.args) >= 2
                )
                # the local broker probes its own loopback PLAINTEXT listener on purpose
                internal = rel.name in ("local.py", "secure_local.py") and name == "make_admin"
                if not has_settings and not internal:
                    bare.append(f"{where}: pass settings=")
            elif name == "App" and "broker" in keywords and "broker_credentials" not in keywords:
                bare.append(f"{where}: pass broker_credentials=faust_credentials(settings)")
    assert not bare, "\n".join(bare)
