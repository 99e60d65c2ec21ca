"""One local[2] SparkSession for the whole test session, and the inputs both engines read:
the ETL fixtures, the bad-input corpus (as text, gzip, CSV and Parquet files) and simulator
histories with and without drift. Everything is generated here; nothing is read outside the
repository."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SIM = {"n_users": 80, "days": 21, "decision_min_day": 10, "n_hosts": 3,
       "log_lines_per_host_day": 40}  # fmt: skip


@pytest.fixture(scope="session")
def spark():
    from streams.spark.session import spark_session

    session = spark_session("local[2]", {"spark.ui.enabled": "false",
                                         "spark.ui.showConsoleProgress": "false",
                                         "spark.sql.shuffle.partitions": "4"})  # fmt: skip
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _bad_inputs(folder) -> list:
    from tests.support.etl_inputs import BAD_CORPUS

    bad = [payload.replace(b"\n", b" ") for payload, _ in BAD_CORPUS]
    text = folder / "bad.log"
    text.write_bytes(b"\n".join(bad) + b"\n")
    gz = folder / "bad-too.log.gz"
    with gzip.open(gz, "wb") as f:
        f.write(b"\r\n".join(reversed(bad)))
    cut = folder / "cut-short.log.gz"  # a log copied while it was written: the stream breaks
    whole = gzip.compress(b"\n".join(bad * 3))
    cut.write_bytes(whole[: len(whole) // 2])
    csv = folder / "activity.csv"
    csv.write_text(
        "event_id,user_id,ts,type,properties\n"
        "c1,u1,1763619901000,login,\n"
        "c2,u1,not-a-time,view,\n"
        "c3,u2,1763619902000,view,extra,columns\n"
        "c4,u2,5,view,\n"
        'c5,u1,1763619903000,purchase,"{""amount"": 3.5}"\n'
    )
    table = pa.table({
        "event_id": ["p1", "p2", None, "p4"], "user_id": ["u9", "u9", "u8", None],
        "ts": pa.array([1763619901000, 1763619960000, 1763619990000, 1763619999000]),
        "type": ["login", "view", "view", "view"], "properties": [None, "{}", None, None],
    })  # fmt: skip
    pq.write_table(table, folder / "activity-rows.parquet")
    return [text, gz, cut, csv, folder / "activity-rows.parquet"]


@pytest.fixture(scope="session")
def etl_inputs(tmp_path_factory):
    """(name, [paths]) cases: fixtures + bad corpus, a simulated history, a drifted one."""
    from models.simulate import SimConfig, simulate
    from models.simulate.output import write_simulation
    from tests.support.etl_inputs import FIXTURES

    root = tmp_path_factory.mktemp("spark-inputs")
    bad = root / "bad"
    bad.mkdir()
    fixtures = sorted(p for p in FIXTURES.iterdir() if p.is_file())
    cases = {"fixtures+bad": fixtures + _bad_inputs(bad)}
    for name, drift in (("history", None), ("drift", 12)):
        folder = root / name
        write_simulation(simulate(SimConfig(seed=11, drift_day=drift, **SIM)), folder)
        cases[name] = [folder / "events.parquet", folder / "raw_logs.txt"]
    return cases


def feature_rows(path) -> tuple[list[tuple], np.ndarray, list[str]]:
    """A feature file or folder as (keys, X) sorted by (entity, ts, event id), stably, and
    its feature names."""
    import json

    from streams.etl.job import feature_matrix

    table = pq.read_table(path)
    names = json.loads(table.schema.metadata[b"feature_names"]) if table.schema.metadata else []
    n = table.num_rows
    x = feature_matrix(table)
    keys = list(zip(table.column("entity").to_pylist(), table.column("ts_ms").to_pylist(),
                    table.column("event_id").to_pylist(), strict=True))  # fmt: skip
    order = sorted(range(n), key=keys.__getitem__)
    return [keys[i] for i in order], x[order], names
