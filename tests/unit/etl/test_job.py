"""``run_etl``'s write-behind (Parquet writes run on a second thread, in order, and a failing
write fails the job in the caller's thread), its parse workers and its fit while reading: the
same files, byte for byte, either way."""

from __future__ import annotations

import threading
import time

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streams.etl.job import _WriteBehind, run_etl
from tests.unit.etl.conftest import OPTS, fixture_lines


def test_writes_run_in_the_order_given_on_another_thread():
    done: list[tuple[int, str]] = []
    behind = _WriteBehind(depth=2)
    for k in range(20):
        behind.submit(lambda k=k: done.append((k, threading.current_thread().name)))
    behind.close()
    assert [k for k, _ in done] == list(range(20))
    assert {name for _, name in done} != {threading.current_thread().name}


def test_at_most_depth_writes_are_queued_or_running():
    running = threading.Semaphore(0)
    release = threading.Event()
    behind = _WriteBehind(depth=2)

    def slow() -> None:
        running.release()
        release.wait(5)

    behind.submit(slow)
    behind.submit(slow)
    assert running.acquire(timeout=5)
    waiter = threading.Thread(target=behind.submit, args=(slow,))
    waiter.start()
    time.sleep(0.2)
    assert waiter.is_alive()  # the third waits for the first to finish
    release.set()
    waiter.join(5)
    assert not waiter.is_alive()
    behind.close()


def test_a_failed_write_raises_at_the_next_submit_and_drops_the_later_ones():
    ran: list[int] = []
    behind = _WriteBehind(depth=1)

    def fail() -> None:
        raise OSError("disk full")

    behind.submit(fail)
    with pytest.raises(OSError, match="disk full"):
        behind.submit(lambda: ran.append(1))
    assert ran == []
    behind.close()  # nothing left: closing after the error does not raise again


def test_a_failed_write_raises_at_close():
    behind = _WriteBehind(depth=2)
    behind.submit(lambda: None)
    behind.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        behind.close()


def test_a_failing_feature_write_fails_run_etl(tmp_path, monkeypatch):
    src = tmp_path / "syslog.log"
    src.write_bytes(b"\n".join(fixture_lines("syslog3164.log")) + b"\n")

    def broken(self, table, *a, **k):
        raise OSError("feature disk full")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", broken)
    with pytest.raises(OSError, match="feature disk full"):
        run_etl([src], tmp_path / "out", options=OPTS, progress=False)


def test_small_chunks_write_the_same_rows_in_the_same_order(tmp_path):
    """Many chunks (so several writes are in flight at once) give the rows of one chunk."""
    lines = [line for name in ("syslog3164.log", "syslog5424.log", "dpkg.log", "access.log")
             for line in fixture_lines(name)] * 5  # fmt: skip
    src = tmp_path / "logs.log"
    src.write_bytes(b"\n".join(lines) + b"\n")
    one = run_etl([src], tmp_path / "one", options=OPTS, progress=False, chunk_size=1 << 20)
    many = run_etl([src], tmp_path / "many", options=OPTS, progress=False, chunk_size=7)
    assert one.total.events > 50
    assert set(one.outputs) == set(many.outputs)
    for name, path in one.outputs.items():
        if path.suffix == ".parquet":
            assert pq.read_table(path).equals(pq.read_table(many.outputs[name]))
        else:
            assert path.read_bytes() == many.outputs[name].read_bytes()


def test_parse_workers_give_the_same_files_as_parsing_here(tmp_path):
    """Chunks parsed in worker processes: byte-identical events, rejections and features, and
    the same counts, with bad lines of every kind among good ones."""
    from tests.support.etl_inputs import BAD_CORPUS

    good = [line for name in ("syslog3164.log", "syslog3164_tags.log", "syslog5424.log",
                              "dpkg.log", "access.log", "apache_error.log", "activity.jsonl")
            for line in fixture_lines(name)]  # fmt: skip
    bad = [raw for raw, _ in BAD_CORPUS if b"\n" not in raw and b"\r" not in raw]
    lines = [line for k in range(6) for line in (good + bad)[k::6]]
    src = tmp_path / "mixed.log"
    src.write_bytes(b"\n".join(lines) + b"\n")
    runs = {}
    for workers in (1, 2):
        runs[workers] = run_etl([src], tmp_path / f"w{workers}", options=OPTS, progress=False,
                                chunk_size=29, parse_workers=workers)  # fmt: skip
    here, pooled = runs[1], runs[2]
    assert here.total.rejected > 5 and here.total.events > 50
    assert (here.total, here.per_file, here.feature_rows) == (
        pooled.total, pooled.per_file, pooled.feature_rows)  # fmt: skip
    assert here.first_rejected == pooled.first_rejected
    for name, path in here.outputs.items():
        assert path.read_bytes() == pooled.outputs[name].read_bytes(), name


def _fit_after_sorting(events_path) -> str:
    from streams.etl.job import time_ordered
    from streams.features import FeaturePipeline, default_spec

    events = time_ordered(pq.read_table(events_path))
    return FeaturePipeline(default_spec("logs")).fit(events).fingerprint


@pytest.mark.parametrize("order", ["in time order", "reversed"])
def test_the_fit_while_reading_is_the_fit_after_sorting(tmp_path, order):
    """Events read in time order are fitted while they are read; out of order, after sorting.
    Either way the pipeline (its fingerprint covers the statistics) is the one fitted on the
    sorted events."""
    from streams.etl.job import _EarlyFit, time_ordered

    names = ("syslog3164.log", "syslog3164_tags.log", "syslog5424.log", "dpkg.log")
    lines = [line for name in names for line in fixture_lines(name)]
    src = tmp_path / "logs.log"
    src.write_bytes(b"\n".join(lines) + b"\n")
    first = run_etl([src], tmp_path / "first", options=OPTS, progress=False, features=False)
    events = time_ordered(pq.read_table(first.outputs["events"]))
    assert events.num_rows > 20
    if order == "reversed":
        events = events.take(list(range(events.num_rows - 1, -1, -1)))
        lines = lines[::-1]
    early = _EarlyFit(None, "cpu")
    for batch in events.to_batches(max_chunksize=7):
        early.add(batch)
    fitted = early.fitted("-logs")
    assert (fitted is None) == (order == "reversed")
    if fitted is not None:
        assert fitted.fingerprint == _fit_after_sorting(first.outputs["events"])
    src.write_bytes(b"\n".join(lines) + b"\n")
    run = run_etl([src], tmp_path / "etl", options=OPTS, progress=False, chunk_size=5)
    saved = orjson.loads(run.outputs["pipeline-logs"].read_bytes())["fingerprint"]
    assert saved == _fit_after_sorting(run.outputs["events"])


def test_the_early_fit_leaves_every_file_byte_identical(tmp_path, monkeypatch):
    """A time-ordered single input fitted while read, and the same fitted after reading (the
    early fit switched off): the same bytes in every output."""
    from streams.etl import job

    lines = [
        f"<{13 + i % 3}>Oct  1 00:{i // 6:02d}:{i % 6 * 10:02d} host{i % 4} prog[{i}]: "
        f"user {i % 5} said {'ok' if i % 2 else 'failed'}".encode()
        for i in range(90)
    ]
    lines += [lines[-1]] * 3  # ties keep file order
    src = tmp_path / "logs.log"
    src.write_bytes(b"\n".join(lines) + b"\n")
    fitted_early = []
    real_fitted = job._EarlyFit.fitted

    def spy(self, suffix):
        got = real_fitted(self, suffix)
        fitted_early.append(got is not None)
        return got

    monkeypatch.setattr(job._EarlyFit, "fitted", spy)
    early = run_etl([src], tmp_path / "early", options=OPTS, progress=False, chunk_size=4)
    assert fitted_early == [True]
    monkeypatch.setattr(job._EarlyFit, "add", lambda self, events: None)
    monkeypatch.setattr(job._EarlyFit, "fitted", lambda self, suffix: None)
    late = run_etl([src], tmp_path / "late", options=OPTS, progress=False, chunk_size=4)
    assert set(early.outputs) == set(late.outputs) and "features-logs" in early.outputs
    for name, path in early.outputs.items():
        assert path.read_bytes() == late.outputs[name].read_bytes(), name


def test_the_parse_worker_count_is_given_or_one_per_cpu_for_big_text(tmp_path, monkeypatch):
    from streams.etl import job

    small = tmp_path / "small.log"
    small.write_bytes(b"<13>Oct  1 00:00:00 h p: x\n")
    table = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": [1]}), table)
    assert job.parse_worker_count([small], "auto") == 1  # under PARSE_POOL_MIN_BYTES
    assert job.parse_worker_count([small], "auto", 3) == 3
    assert job.parse_worker_count([small], "auto", 0) == 1
    monkeypatch.setattr(job, "PARSE_POOL_MIN_BYTES", 1)
    assert job.parse_worker_count([small], "auto") == job.available_cpus() >= 1
    assert job.parse_worker_count([table], "auto") == 1  # no text: nothing to parse in workers
    assert job.parse_worker_count([small], "auto") == job.parse_worker_count([small], "auto")
