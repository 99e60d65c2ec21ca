"""The local broker's SASL_SSL listener (``streamscore kafka up --secure``, the secure tests).

:func:`ensure_material` creates, once per state directory, under ``<state>/kafka/tls/``
(mode 0700):

1. a CA (``ca.p12``) and its certificate as PEM (``ca.pem``, what clients trust), with the
   JDK's ``keytool`` (Kafka needs a JDK anyway; no extra Python package);
2. the broker's key and a certificate for ``127.0.0.1``/``localhost`` signed by that CA, in a
   PKCS12 keystore (``broker.p12``);
3. a SCRAM-SHA-512 user ``streamscore`` with a random password, and ``client.properties``: the
   client settings in librdkafka's key names, ready for ``STREAMSCORE_KAFKA_PROPERTIES``.

The user is created when the storage is formatted (``--add-scram``), or, for storage formatted
before without it, through the admin API on the internal PLAINTEXT listener once the broker is
up. The PLAINTEXT and CONTROLLER listeners stay as they are, for the broker's own use and for
tools that run on the same machine.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from streams.errors import KafkaSetupError
from streams.settings import Settings

__all__ = [
    "SCRAM_MECHANISM",
    "SCRAM_USER",
    "SecureMaterial",
    "ensure_material",
    "ensure_scram_user",
    "listener_properties",
    "scram_format_args",
]

SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_USER = "streamscore"
_VALIDITY_DAYS = "3650"


@dataclass(frozen=True)
class SecureMaterial:
    """Where the local broker's TLS material and SCRAM credentials are."""

    tls_dir: Path
    keystore_password: str
    username: str
    password: str

    @property
    def keystore(self) -> Path:
        return self.tls_dir / "broker.p12"

    @property
    def ca_pem(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def client_properties(self) -> Path:
        return self.tls_dir / "client.properties"


def tls_dir(settings: Settings) -> Path:
    return (settings.kafka_state_dir / "tls").resolve()


def ensure_material(settings: Settings, java: str) -> SecureMaterial:
    """The CA, broker keystore, SCRAM credentials and client properties (created if absent)."""
    where = tls_dir(settings)
    secrets_file = where / "secrets.json"
    if secrets_file.exists() and (where / "broker.p12").exists() and (where / "ca.pem").exists():
        raw = json.loads(secrets_file.read_text())
        material = SecureMaterial(where, raw["keystore_password"], raw["username"], raw["password"])
    else:
        where.mkdir(parents=True, exist_ok=True)
        where.chmod(0o700)
        for stale in where.iterdir():
            stale.unlink()
        material = SecureMaterial(
            where, secrets.token_urlsafe(24), SCRAM_USER, secrets.token_urlsafe(24)
        )
        _make_certificates(material, _keytool(java))
        _write_private(
            secrets_file,
            json.dumps(
                {
                    "keystore_password": material.keystore_password,
                    "username": material.username,
                    "password": material.password,
                }
            ),
        )
    _write_private(
        material.client_properties,
        "\n".join(
            [
                "# Written by `streamscore kafka up --secure`: the local broker's SASL_SSL",
                "# listener. Use with STREAMSCORE_KAFKA_PROPERTIES=<this file>.",
                "security.protocol=SASL_SSL",
                f"sasl.mechanism={SCRAM_MECHANISM}",
                f"sasl.username={material.username}",
                f"sasl.password={material.password}",
                f"ssl.ca.location={material.ca_pem}",
                "",
            ]
        ),
    )
    return material


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _keytool(java: str) -> str:
    keytool = Path(java).parent / "keytool"
    if not keytool.exists():
        raise KafkaSetupError(
            f"the secure local broker needs the JDK's keytool next to {java}, found none; "
            "install a full JDK (Debian: apt-get install -y openjdk-17-jdk-headless)"
        )
    return str(keytool)


def _make_certificates(m: SecureMaterial, keytool: str) -> None:
    ca_store = m.tls_dir / "ca.p12"
    csr = m.tls_dir / "broker.csr"
    signed = m.tls_dir / "broker.pem"
    pw = m.keystore_password
    store = ["-storetype", "PKCS12", "-storepass", pw, "-keypass", pw]
    steps = [
        # 1. the CA: a self-signed key pair allowed to sign certificates
        ["-genkeypair", "-alias", "ca", "-keyalg", "RSA", "-keysize", "2048",
         "-dname", "CN=streamscore local CA", "-ext", "bc:c", "-ext", "KU:c=keyCertSign,cRLSign",
         "-validity", _VALIDITY_DAYS, "-keystore", str(ca_store), *store],
        ["-exportcert", "-rfc", "-alias", "ca", "-keystore", str(ca_store), "-storepass", pw,
         "-file", str(m.ca_pem)],
        # 2. the broker's key pair, a request, and the CA's signature for 127.0.0.1/localhost
        ["-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
         "-dname", "CN=localhost", "-validity", _VALIDITY_DAYS, "-keystore", str(m.keystore),
         *store],
        ["-certreq", "-alias", "broker", "-keystore", str(m.keystore), "-storepass", pw,
         "-file", str(csr)],
        ["-gencert", "-alias", "ca", "-keystore", str(ca_store), "-storepass", pw,
         "-infile", str(csr), "-outfile", str(signed), "-rfc", "-validity", _VALIDITY_DAYS,
         "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-ext", "EKU=serverAuth",
         "-ext", "KU=digitalSignature,keyEncipherment"],
        # 3. the chain into the broker's keystore: the CA first, then the signed certificate
        ["-importcert", "-noprompt", "-alias", "ca", "-file", str(m.ca_pem),
         "-keystore", str(m.keystore), "-storepass", pw],
        ["-importcert", "-alias", "broker", "-file", str(signed), "-keystore", str(m.keystore),
         "-storepass", pw],
    ]  # fmt: skip
    for args in steps:
        proc = subprocess.run(
            [keytool, *args], capture_output=True, text=True, check=False, timeout=120
        )
        if proc.returncode != 0:
            raise KafkaSetupError(
                f"keytool {args[0]} for the local broker's TLS certificate failed (exit "
                f"{proc.returncode}): {(proc.stdout + proc.stderr).strip()[-1000:]}"
            )
    csr.unlink()


def listener_properties(m: SecureMaterial) -> list[str]:
    """``server.properties`` lines of the SASL_SSL listener (listeners and the protocol map
    are written by the caller)."""
    return [
        f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
        f"listener.name.sasl_ssl.{SCRAM_MECHANISM.lower()}.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "ssl.keystore.type=PKCS12",
        f"ssl.keystore.location={m.keystore}",
        f"ssl.keystore.password={m.keystore_password}",
        f"ssl.key.password={m.keystore_password}",
        "ssl.client.auth=none",
    ]


def scram_format_args(m: SecureMaterial) -> list[str]:
    """``kafka-storage format`` arguments that create the SCRAM user with the storage."""
    return ["--add-scram", f"{SCRAM_MECHANISM}=[name={m.username},password={m.password}]"]


def ensure_scram_user(plain_bootstrap: str, m: SecureMaterial) -> None:
    """Create or update the SCRAM user through the internal PLAINTEXT listener (for storage
    formatted before the secure listener existed). Raises :class:`KafkaSetupError`."""
    from confluent_kafka.admin import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    from streams.kafka.clients import make_admin

    admin = make_admin(plain_bootstrap)  # the loopback PLAINTEXT listener: no security
    upsert = UserScramCredentialUpsertion(
        m.username,
        ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
        m.password.encode(),
    )
    try:
        for future in admin.alter_user_scram_credentials([upsert]).values():
            future.result(timeout=30)
    except Exception as exc:
        raise KafkaSetupError(
            f"creating the SCRAM user {m.username} on the local broker failed: {exc}"
        ) from exc
