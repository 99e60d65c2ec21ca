"""``streamscore kafka up | down | status | logs``: the local single-node Kafka broker."""

from __future__ import annotations

import argparse
import json
import time

from streams.cli._args import int_in, non_negative_int, port
from streams.kafka import broker_down, broker_logs, broker_status, broker_up
from streams.kafka.local import secure_client_properties
from streams.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "kafka",
        help="run a local Apache Kafka broker (KRaft, single node, 127.0.0.1)",
        description="Fetch (once, with mvn from Maven Central), start, stop and inspect a local "
        "single-node Apache Kafka broker. With KAFKA_BOOTSTRAP_SERVERS set, that cluster is used "
        "and nothing local starts.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    up = actions.add_parser("up", help="start the broker (or report the one running)")
    up.add_argument(
        "--port",
        type=port,
        help="client port (default: the one used last time, kept across `down`; a free one "
        "when that is taken, which is then said)",
    )
    up.add_argument(
        "--heap-mb",
        type=int_in(128, 65_536, "a heap size in MiB"),
        help="JVM heap in MiB (default 512)",
    )
    up.add_argument(
        "--secure",
        action="store_true",
        help="also listen for SASL_SSL clients on another loopback port (SCRAM-SHA-512 user "
        "and a CA made at first start; prints the client properties file to use as "
        "STREAMSCORE_KAFKA_PROPERTIES)",
    )
    up.set_defaults(func=_up)

    down = actions.add_parser("down", help="stop the broker started here (by its PID)")
    down.set_defaults(func=_down)

    status = actions.add_parser("status", help="say whether Kafka is up and where")
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    status.set_defaults(func=_status)

    logs = actions.add_parser("logs", help="show the broker's log")
    logs.add_argument(
        "-n", "--lines", type=non_negative_int, default=50, help="how many lines (default 50)"
    )
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.set_defaults(func=_logs)


def _up(args: argparse.Namespace, settings: Settings) -> int:
    if settings.kafka_bootstrap_servers:
        print(f"using KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers}; nothing started")
        return 0
    overrides = {"kafka_port": args.port, "kafka_heap_mb": args.heap_mb}
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    settings = type(settings).model_validate(settings.model_dump())  # re-validate the overrides
    started = time.monotonic()
    info = broker_up(settings, secure=args.secure)
    if info.already_running:
        print(f"Kafka {info.version} is already running at {info.bootstrap} (pid {info.pid})")
    else:
        print(
            f"Kafka {info.version} is up at {info.bootstrap} (pid {info.pid}, "
            f"ready in {time.monotonic() - started:.1f}s)"
        )
    if info.secure_bootstrap:
        print(
            f"SASL_SSL listener at {info.secure_bootstrap}; for clients that must use it: "
            f"STREAMSCORE_KAFKA_PROPERTIES={secure_client_properties(settings)}"
        )
    if info.moved_from is not None:
        print(
            f"note: port {info.moved_from}, where this broker ran last time, is taken by another "
            f"process, so it runs on {info.port} now: clients still configured for "
            f"127.0.0.1:{info.moved_from} must be restarted (or use --port {info.moved_from} "
            "once that port is free)"
        )
    return 0


def _down(args: argparse.Namespace, settings: Settings) -> int:
    pid = broker_down(settings)
    print(f"stopped Kafka (pid {pid})" if pid else "no local Kafka broker was running")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    st = broker_status(settings)
    if args.json:
        print(
            json.dumps(
                {
                    "mode": st.mode,
                    "bootstrap": st.bootstrap,
                    "pid": st.pid,
                    "answers": st.answers,
                    "log_file": str(st.log_file) if st.log_file else None,
                }
            )
        )
    elif st.mode == "down":
        print("Kafka is down (no local broker running; `streamscore kafka up` starts one)")
    else:
        where = f"pid {st.pid}, " if st.pid else ""
        health = "answering" if st.answers else "NOT answering"
        print(f"Kafka is up ({st.mode}) at {st.bootstrap} ({where}{health})")
    return 0 if st.mode != "down" and st.answers else 1


def _logs(args: argparse.Namespace, settings: Settings) -> int:
    lines = broker_logs(settings, lines=args.lines)
    if not lines and not args.follow:
        print("no broker log yet (the local broker has not run in this state directory)")
        return 1
    print("\n".join(lines))
    if args.follow:
        log_file = settings.kafka_state_dir / "logs" / "server.log"
        with open(log_file, encoding="utf-8", errors="replace") as fh:
            fh.seek(0, 2)
            while True:
                line = fh.readline()
                if line:
                    print(line, end="", flush=True)
                else:
                    time.sleep(0.5)
    return 0
