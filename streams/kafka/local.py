"""A real, single-node Apache Kafka broker on loopback, for the demo, the tests and CI.

``broker_up`` does, in order:

1. Reports the broker already recorded in the state directory if its process is alive.
2. Checks Java (17+) and the requested port, failing with an error that names the fix.
3. Fetches the pinned Kafka release's jars from Maven Central with ``mvn`` (``pom.xml`` beside this
   file) into a cache outside the repository, once.
4. Writes ``server.properties`` (combined broker+controller, KRaft) and formats the storage, once.
5. Starts the JVM in its own session with a modest heap, records its PID and ports in
   ``<state>/kafka/broker.json``, and waits until the broker answers a metadata request.
   The JVMs start from a class-data-sharing archive of the broker's classes; the first broker
   without one has it built in the background (:mod:`streams.kafka.class_archive`).

With ``secure=True`` (``kafka up --secure``) the broker also gets a SASL_SSL listener on
loopback (SCRAM-SHA-512, a CA and server certificate made at first start; see
:mod:`streams.kafka.secure_local`), and start-up waits until it answers through TLS and SASL.
The client port is the configured one, else the one used last time (``<state>/kafka/ports.json``,
kept across ``broker_down``, so running workers and producers find the broker again where it
was), else a free one; when the last one is taken by another process the broker starts on a
free port and says so (:attr:`BrokerInfo.moved_from`).

``broker_down`` stops exactly the recorded PID (SIGTERM, then SIGKILL after a grace period).
When ``KAFKA_BOOTSTRAP_SERVERS`` is set, none of this runs: that cluster is used as it is.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from streams.errors import KafkaAuthError, KafkaSetupError
from streams.kafka import class_archive, secure_local
from streams.kafka.clients import list_metadata, make_admin
from streams.settings import Settings

__all__ = [
    "BrokerInfo",
    "BrokerStatus",
    "broker_down",
    "broker_logs",
    "broker_status",
    "broker_up",
    "resolve_bootstrap",
    "wait_until_ready",
]

MIN_JAVA = 17
_STOP_GRACE_S = 30.0
_QUIET = logging.getLogger("streamscore.kafka.probe")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


@dataclass(frozen=True)
class BrokerInfo:
    """A local broker started by streamscore, as recorded in ``broker.json``."""

    pid: int
    port: int
    controller_port: int
    version: str
    started_at: float
    already_running: bool = False
    secure_port: int | None = None  # the SASL_SSL listener (``kafka up --secure``)
    moved_from: int | None = None
    """The port used last time, when it was taken and the broker had to start elsewhere."""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secure_bootstrap(self) -> str | None:
        return f"127.0.0.1:{self.secure_port}" if self.secure_port else None


@dataclass(frozen=True)
class BrokerStatus:
    """What ``streamscore kafka status`` reports."""

    mode: str  # "external" (KAFKA_BOOTSTRAP_SERVERS), "local" or "down"
    bootstrap: str | None
    pid: int | None
    answers: bool
    log_file: Path | None


# --- paths -----------------------------------------------------------------------------------


def _record_path(settings: Settings) -> Path:
    return settings.kafka_state_dir / "broker.json"


def _log_dir(settings: Settings) -> Path:
    return settings.kafka_state_dir / "logs"


def _read_record(settings: Settings) -> BrokerInfo | None:
    try:
        raw = json.loads(_record_path(settings).read_text())
        return BrokerInfo(
            **{k: raw[k] for k in ("pid", "port", "controller_port", "version", "started_at")},
            secure_port=raw.get("secure_port"),
        )
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        return None


def _write_record(settings: Settings, info: BrokerInfo) -> None:
    record = asdict(info)
    record.pop("already_running")
    record.pop("moved_from")
    _write_json(_record_path(settings), record)
    ports = {
        "port": info.port,
        "controller_port": info.controller_port,
        "secure_port": info.secure_port,
    }
    _write_json(_ports_path(settings), ports)


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=2))
    os.replace(tmp, path)


def _ports_path(settings: Settings) -> Path:
    return settings.kafka_state_dir / "ports.json"


def _last_secure_port(settings: Settings) -> int | None:
    """The SASL_SSL port of the broker started last in this state directory, if it had one."""
    try:
        port = json.loads(_ports_path(settings).read_text()).get("secure_port")
    except (FileNotFoundError, ValueError, AttributeError):
        return None
    return int(port) if isinstance(port, int) else None


def _last_ports(settings: Settings) -> tuple[int, int] | None:
    """(client port, controller port) of the broker started last in this state directory,
    running or not (``broker.json`` of a broker stopped before ``ports.json`` existed)."""
    for path in (_ports_path(settings), _record_path(settings)):
        try:
            raw = json.loads(path.read_text())
            return int(raw["port"]), int(raw["controller_port"])
        except (FileNotFoundError, KeyError, TypeError, ValueError):
            continue
    return None


def _is_our_broker(pid: int, settings: Settings) -> bool:
    """True if ``pid`` is alive and is the Kafka JVM started for this state directory."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    config = str((settings.kafka_state_dir / "server.properties").resolve()).encode()
    return b"kafka.Kafka" in cmdline and config in cmdline


# --- prerequisites ---------------------------------------------------------------------------


def _java() -> str:
    """The java executable (``$JAVA_HOME/bin/java``, else ``java`` on PATH), checked for 17+."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    fix = (
        f"install a Java {MIN_JAVA}+ runtime (Debian: apt-get install -y openjdk-17-jre-headless) "
        "or point JAVA_HOME at one"
    )
    if not java or not Path(java).exists():
        where = f"JAVA_HOME={java_home}" if java_home else "PATH"
        raise KafkaSetupError(
            f"starting Kafka needs Java {MIN_JAVA}+, found none on {where}; {fix}"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise KafkaSetupError(
            f"could not read the version of {java}: {out.stderr.strip()!r}; {fix}"
        )
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise KafkaSetupError(
            f"Kafka 4 needs Java {MIN_JAVA}+, found Java {major} at {java}; {fix}"
        )
    return java


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_jars(settings: Settings) -> Path:
    """The directory of the pinned Kafka release's jars, fetched with Maven on first use."""
    libs = settings.kafka_dist_dir / "libs"
    if (libs / ".complete").exists():
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise KafkaSetupError(
            f"fetching Apache Kafka {settings.kafka_version} from Maven Central needs Maven, and "
            "`mvn` is not on PATH; install it (Debian: apt-get install -y maven), or set "
            "KAFKA_BOOTSTRAP_SERVERS to use an existing cluster"
        )
    settings.kafka_dist_dir.mkdir(parents=True, exist_ok=True)
    staging = settings.kafka_dist_dir / f"libs.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    with resources.as_file(resources.files("streams.kafka") / "pom.xml") as pom:
        proc = subprocess.run(
            [
                mvn,
                "-B",
                "-q",
                "-f",
                str(pom),
                f"-Dkafka.version={settings.kafka_version}",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        shutil.rmtree(staging, ignore_errors=True)
        tail = (proc.stdout + proc.stderr).strip()[-2000:]
        raise KafkaSetupError(
            f"mvn could not fetch org.apache.kafka:kafka_2.13:{settings.kafka_version} "
            f"(exit {proc.returncode}); is Maven Central reachable?\n{tail}"
        )
    (staging / ".complete").write_text(settings.kafka_version)
    shutil.rmtree(libs, ignore_errors=True)
    os.replace(staging, libs)
    return libs


# --- configuration ---------------------------------------------------------------------------


def _server_properties(
    settings: Settings,
    port: int,
    controller_port: int,
    secure: secure_local.SecureMaterial | None = None,
    secure_port: int | None = None,
) -> str:
    data_dir = (settings.kafka_state_dir / "data").resolve()
    listeners = f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"
    advertised = f"PLAINTEXT://127.0.0.1:{port}"
    protocols = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    extra: list[str] = []
    if secure is not None:
        listeners += f",SASL_SSL://127.0.0.1:{secure_port}"
        advertised += f",SASL_SSL://127.0.0.1:{secure_port}"
        protocols += ",SASL_SSL:SASL_SSL"
        extra = secure_local.listener_properties(secure)
    return "\n".join(
        [
            "# Written by `streamscore kafka up`; regenerated at every start.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners={listeners}",
            f"advertised.listeners={advertised}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"listener.security.protocol.map={protocols}",
            *extra,
            f"log.dirs={data_dir}",
            "num.partitions=1",
            # One node: every internal topic has one replica, and transactions must work on it.
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=10",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "",
        ]
    )


def _jvm_command(
    settings: Settings, java: str, libs: Path, main: list[str], flags: list[str] | None = None
) -> list[str]:
    """``flags``: ours (the class archive's), before the user's ``kafka_jvm_opts``."""
    log4j = resources.files("streams.kafka") / "log4j2.properties"
    return [
        java,
        f"-Xms{min(256, settings.kafka_heap_mb)}m",
        f"-Xmx{settings.kafka_heap_mb}m",
        *(flags or []),
        *settings.kafka_jvm_opts.split(),
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        f"-Dkafka.logs.dir={_log_dir(settings).resolve()}",
        "-cp",
        f"{libs}/*",
        *main,
    ]


def _format_storage(
    settings: Settings,
    java: str,
    libs: Path,
    config: Path,
    extra: list[str] | None = None,
    flags: list[str] | None = None,
) -> bool:
    """Format the KRaft storage unless it already is; whether it was formatted now."""
    if (settings.kafka_state_dir / "data" / "meta.properties").exists():
        return False
    cluster_id = "-"
    while cluster_id.startswith("-"):  # the storage tool would read a leading "-" as an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    proc = subprocess.run(
        _jvm_command(
            settings,
            java,
            libs,
            [
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(config),
                *(extra or []),
            ],
            flags,
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise KafkaSetupError(f"formatting KRaft storage failed: {proc.stdout}{proc.stderr}")
    return True


# --- lifecycle -------------------------------------------------------------------------------


def _answers(bootstrap: str, timeout_s: float = 2.0, settings: Settings | None = None) -> bool:
    """Whether ``bootstrap`` answers a metadata request (with ``settings``' Kafka security).
    Raises :class:`~streams.errors.KafkaAuthError` when it answers but refuses our
    credentials: that does not get better by waiting."""
    admin = make_admin(
        bootstrap, settings, logger=_QUIET, **{"socket.connection.setup.timeout.ms": 2000}
    )
    try:
        list_metadata(admin, settings, timeout_s)
    except KafkaAuthError:
        raise
    except Exception:
        return False
    return True


def wait_until_ready(
    bootstrap: str, timeout_s: float, pid: int | None = None, settings: Settings | None = None
) -> float:
    """Poll until ``bootstrap`` answers a metadata request; return the seconds it took.

    ``settings`` carry the Kafka security to connect with (None: plaintext). Raises
    :class:`KafkaSetupError` after ``timeout_s``, or as soon as process ``pid`` exits, and
    :class:`~streams.errors.KafkaAuthError` when the broker refuses the credentials.
    """
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if pid is not None and not _alive(pid):
            raise KafkaSetupError(f"the Kafka process {pid} exited while starting")
        if _answers(bootstrap, timeout_s=min(2.0, timeout_s), settings=settings):
            return time.monotonic() - start
        time.sleep(0.25)
    raise KafkaSetupError(f"Kafka at {bootstrap} did not answer a metadata request in {timeout_s}s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child) still answers kill(0); it is not alive for us.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def broker_up(settings: Settings, *, wait: bool = True, secure: bool = False) -> BrokerInfo:
    """Start the local broker (see the module docstring for the steps) and return where it is.

    With ``secure``, it also listens for SASL_SSL clients (``secure_bootstrap``; the client
    settings are in :func:`secure_client_properties`).

    Raises :class:`KafkaSetupError` when ``KAFKA_BOOTSTRAP_SERVERS`` is set (nothing to start),
    when Java 17+ or Maven is missing, when the port is taken, when the broker does not come
    up, or when ``secure`` is asked of a broker already running without its secure listener.
    """
    if settings.kafka_bootstrap_servers:
        raise KafkaSetupError(
            f"KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers} is set, so streamscore "
            "uses that cluster and starts no local broker; unset it to run one here"
        )
    previous = _read_record(settings)
    if previous and _is_our_broker(previous.pid, settings):
        if secure and previous.secure_port is None:
            raise KafkaSetupError(
                f"the local broker (pid {previous.pid}) is running without its SASL_SSL "
                "listener; stop it (`streamscore kafka down`) and start it with --secure"
            )
        return BrokerInfo(**{**asdict(previous), "already_running": True})

    java = _java()
    last = _last_ports(settings)
    moved_from = None
    if settings.kafka_port:
        port = settings.kafka_port
    elif last and _port_is_free(last[0]):
        port = last[0]
    else:
        port = _free_port()
        moved_from = last[0] if last else None
    if not _port_is_free(port):
        raise KafkaSetupError(
            f"port {port} on 127.0.0.1 is already taken by another process; stop it, choose "
            "another port (--port N or STREAMSCORE_KAFKA_PORT=N), or use 0 for a free one"
        )
    controller_port = (
        last[1] if last and last[1] != port and _port_is_free(last[1]) else _free_port()
    )
    libs = _ensure_jars(settings)

    settings.kafka_state_dir.mkdir(parents=True, exist_ok=True)
    _log_dir(settings).mkdir(parents=True, exist_ok=True)
    material = secure_port = None
    if secure:
        material = secure_local.ensure_material(settings, java)
        taken = {port, controller_port}
        last_secure = _last_secure_port(settings)
        secure_port = (
            last_secure
            if last_secure and last_secure not in taken and _port_is_free(last_secure)
            else _free_port()
        )
    config = (settings.kafka_state_dir / "server.properties").resolve()
    config.write_text(_server_properties(settings, port, controller_port, material, secure_port))
    config.chmod(0o600)  # holds the keystore password when secure
    archive = class_archive.archive_path(libs, java)
    shared = class_archive.jvm_flags(archive)
    record, classes = class_archive.record_flags(archive) if wait and not shared else ([], None)
    formatted = _format_storage(
        settings,
        java,
        libs,
        config,
        secure_local.scram_format_args(material) if material is not None else None,
        shared,
    )

    with open(_log_dir(settings) / "stdout.log", "ab") as out:
        proc = subprocess.Popen(
            _jvm_command(settings, java, libs, ["kafka.Kafka", str(config)], shared + record),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the caller's terminal must not kill the broker
        )
    info = BrokerInfo(
        proc.pid,
        port,
        controller_port,
        settings.kafka_version,
        time.time(),
        secure_port=secure_port,
        moved_from=moved_from,
    )
    _write_record(settings, info)
    if wait or (material is not None and not formatted):
        try:
            wait_until_ready(info.bootstrap, settings.kafka_start_timeout_s, pid=proc.pid)
            if material is not None:
                if not formatted:  # storage from a plain start: the user is not there yet
                    secure_local.ensure_scram_user(info.bootstrap, material)
                if wait:
                    _wait_secure(settings, info)
        except (KafkaSetupError, KafkaAuthError) as exc:
            broker_down(settings)
            if classes is not None:
                classes.unlink(missing_ok=True)
            tail = "\n".join(broker_logs(settings, lines=20))
            raise KafkaSetupError(f"{exc}; last broker log lines:\n{tail}") from exc
    if classes is not None:
        class_archive.build_later(java, libs, archive, classes)
    return info


def _wait_secure(settings: Settings, info: BrokerInfo) -> None:
    """Wait until the SASL_SSL listener accepts the SCRAM user. A refusal is retried until
    the start timeout: a user created a moment ago may not be applied yet."""
    deadline = time.monotonic() + settings.kafka_start_timeout_s
    client = secure_client_settings(settings)
    while True:
        left = max(1.0, deadline - time.monotonic())
        try:
            wait_until_ready(str(info.secure_bootstrap), left, pid=info.pid, settings=client)
            return
        except KafkaAuthError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def broker_down(settings: Settings) -> int | None:
    """Stop the recorded local broker, by its PID; return that PID, or None if none was running.

    The record of its ports stays, so the next :func:`broker_up` starts it where it was."""
    info = _read_record(settings)
    if info is None or not _is_our_broker(info.pid, settings):
        _record_path(settings).unlink(missing_ok=True)
        return None
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_GRACE_S
    while _alive(info.pid) and time.monotonic() < deadline:
        _reap(info.pid)
        time.sleep(0.2)
    if _alive(info.pid):
        os.kill(info.pid, signal.SIGKILL)
        while _alive(info.pid):
            _reap(info.pid)
            time.sleep(0.05)
    _reap(info.pid)
    _record_path(settings).unlink(missing_ok=True)
    return info.pid


def _reap(pid: int) -> None:
    """Collect the exit status if the broker is our own child (started in this process)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def broker_status(settings: Settings) -> BrokerStatus:
    """Where Kafka is and whether it answers a metadata request."""
    if settings.kafka_bootstrap_servers:
        servers = settings.kafka_bootstrap_servers
        return BrokerStatus("external", servers, None, _answers(servers, settings=settings), None)
    info = _read_record(settings)
    log_file = _log_dir(settings) / "server.log"
    if info is None or not _is_our_broker(info.pid, settings):
        return BrokerStatus("down", None, None, False, log_file if log_file.exists() else None)
    return BrokerStatus("local", info.bootstrap, info.pid, _answers(info.bootstrap), log_file)


def secure_client_properties(settings: Settings) -> Path:
    """The client settings of the local broker's SASL_SSL listener, in librdkafka's key names
    (for ``STREAMSCORE_KAFKA_PROPERTIES``); written by ``broker_up(secure=True)``."""
    return secure_local.tls_dir(settings) / "client.properties"


def secure_client_settings(settings: Settings) -> Settings:
    """``settings`` with the local secure listener's client properties file as the only
    Kafka security setting."""
    from streams.settings import load_settings

    keep = {
        k: v
        for k, v in settings.model_dump().items()
        if not k.startswith(("kafka_security", "kafka_sasl", "kafka_ssl", "kafka_properties"))
    }
    return load_settings(env={}, **keep, kafka_properties=secure_client_properties(settings))


def broker_logs(settings: Settings, lines: int = 50) -> list[str]:
    """The last ``lines`` lines of the local broker's log (empty if it never ran here)."""
    log_file = _log_dir(settings) / "server.log"
    if not log_file.exists():
        return []
    with open(log_file, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 512 * max(lines, 1)))
        text = fh.read().decode("utf-8", errors="replace")
    return text.splitlines()[-lines:] if lines else []


def resolve_bootstrap(settings: Settings) -> str:
    """The bootstrap servers to use: ``KAFKA_BOOTSTRAP_SERVERS``, else the running local broker
    (its SASL_SSL listener when the settings ask for SASL_SSL, else its PLAINTEXT one).

    Raises :class:`KafkaSetupError` naming both ways out when neither is available, and when
    the settings' security protocol is one the local broker does not listen with.
    """
    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers
    info = _read_record(settings)
    if info is None or not _is_our_broker(info.pid, settings):
        raise KafkaSetupError(
            f"no Kafka: no local broker is running for state directory {settings.state_dir} and "
            "KAFKA_BOOTSTRAP_SERVERS is not set; run `streamscore kafka up` or set it"
        )
    if not settings.kafka_security_configured:
        return info.bootstrap
    from streams.kafka_security import kafka_security

    protocol = kafka_security(settings).protocol
    if protocol == "PLAINTEXT":
        return info.bootstrap
    if protocol == "SASL_SSL" and info.secure_bootstrap:
        return info.secure_bootstrap
    listens = "PLAINTEXT and SASL_SSL" if info.secure_port else "PLAINTEXT only"
    raise KafkaSetupError(
        f"the local broker (pid {info.pid}) listens with {listens}, and the Kafka security "
        f"protocol asked for is {protocol}; start it with `streamscore kafka up --secure` (after "
        "`kafka down`) and use SASL_SSL, or set KAFKA_BOOTSTRAP_SERVERS to a cluster that has it"
    )
