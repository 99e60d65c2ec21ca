"""``run_etl``'s write-behind: Parquet writes run on a second thread, in order, and a failing
write fails the job in the caller's thread."""

from __future__ import annotations

import threading
import time

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
