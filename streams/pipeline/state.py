"""Per-entity window state of the partitions a worker owns: a store per partition, a changelog.

The rows (entity -> float64 window-state row, as bytes) of input partition number ``p`` live in
one store (RocksDB via rocksdict, or a dict) and in partition ``p`` of the changelog topic. The
scoring loop drives it in three moves:

1. **Read** during a batch: :meth:`WindowState.get` looks at the rows staged in the open
   transaction, then a read cache, then the stores of the partitions the batch came from.
2. **Stage** a batch's new rows with :meth:`WindowState.stage` (kept in memory, not written
   anywhere). Before its transaction commits, :meth:`WindowState.changelog_records` hands the
   loop one changelog record per entity staged since the last commit (an entity that changed in
   ten batches costs one record, as Kafka Streams' record cache does).
3. **Apply** after the commit (:meth:`WindowState.apply`): the staged rows go into the stores.
   An aborted transaction :meth:`discards <WindowState.discard>` them instead, so a store never
   holds a row whose transaction did not commit.

On assignment a partition's store is opened and brought up to the end of its changelog partition
(read_committed) before its first batch is scored; a RocksDB store that was kept on disk has a
checkpoint (the changelog offset its rows cover) and reads only what came after it. A crash
between a commit and its apply leaves the store behind its changelog, never ahead: the next
restore replays the difference.
"""

from __future__ import annotations

import logging
import shutil
import struct
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal, Protocol

from confluent_kafka import Consumer, KafkaError, TopicPartition

from streams.kafka.clients import watermarks

_log = logging.getLogger(__name__)

__all__ = ["StateStoreError", "WindowState"]

CHECKPOINT_KEY = b"\x00streamscore.checkpoint"
"""Reserved key of a RocksDB store: the changelog offset up to which its rows are applied."""

MAX_CACHED = 1_000_000
"""Rows kept in the read cache before it is emptied (memory bound of a busy worker)."""


class StateStoreError(RuntimeError):
    """The window-state store failed (disk full, I/O error): the worker cannot score on."""


class _Store(Protocol):
    def get(self, key: bytes) -> bytes | None: ...
    def put_many(self, rows: dict[bytes, bytes], checkpoint: int | None) -> None: ...
    def checkpoint(self) -> int | None: ...
    def close(self) -> None: ...


class _MemoryStore:
    """A dict; nothing survives the process, so every assignment restores from offset 0."""

    def __init__(self) -> None:
        self._rows: dict[bytes, bytes] = {}
        self._checkpoint: int | None = None

    def get(self, key: bytes) -> bytes | None:
        return self._rows.get(key)

    def put_many(self, rows: dict[bytes, bytes], checkpoint: int | None) -> None:
        self._rows.update(rows)
        if checkpoint is not None:
            self._checkpoint = checkpoint

    def checkpoint(self) -> int | None:
        return self._checkpoint

    def close(self) -> None:
        self._rows.clear()


class _RocksStore:
    """A RocksDB database (rocksdict) whose reserved key holds the changelog checkpoint."""

    def __init__(self, path: Path) -> None:
        from rocksdict import Options, Rdict

        options = Options(raw_mode=True)
        options.create_if_missing(True)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = Rdict(str(path), options=options)
        except Exception as exc:
            raise StateStoreError(f"opening the window-state store {path} failed: {exc}") from exc
        self.path = path

    def get(self, key: bytes) -> bytes | None:
        try:
            return self._db.get(key)
        except Exception as exc:
            raise StateStoreError(f"reading window state from {self.path} failed: {exc}") from exc

    def put_many(self, rows: dict[bytes, bytes], checkpoint: int | None) -> None:
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        for key, row in rows.items():
            batch.put(key, row)
        if checkpoint is not None:
            batch.put(CHECKPOINT_KEY, struct.pack(">q", checkpoint))
        try:
            self._db.write(batch)
        except Exception as exc:
            raise StateStoreError(f"writing window state to {self.path} failed: {exc}") from exc

    def checkpoint(self) -> int | None:
        raw = self.get(CHECKPOINT_KEY)
        return None if raw is None else struct.unpack(">q", raw)[0]

    def close(self) -> None:
        try:
            self._db.close()
        except Exception as exc:
            _log.warning("closing the window-state store %s failed: %s", self.path, exc)


class WindowState:
    """The window state of the partitions this worker owns (see the module docstring).

    ``directory`` holds one RocksDB store per partition number (``kind="rocksdb"``); a store is
    kept on disk when its partition is revoked, so a partition that comes back restores only
    what it lacks. ``make_restore_consumer`` builds a read_committed consumer for restores.
    """

    def __init__(
        self,
        changelog: str,
        kind: Literal["rocksdb", "memory"],
        directory: Path,
        make_restore_consumer: Callable[[], Consumer],
        restore_timeout_s: float = 120.0,
    ) -> None:
        self.changelog = changelog
        self.kind = kind
        self.directory = directory
        self._make_consumer = make_restore_consumer
        self._restore_timeout_s = restore_timeout_s
        self._stores: dict[int, _Store] = {}
        self._cache: dict[str, tuple[int, bytes]] = {}  # entity -> (partition, committed row)
        self._staged: dict[int, dict[str, bytes]] = {}  # partition -> entity -> row (open txn)
        self._reading: tuple[int, ...] = ()  # partitions of the batch being scored

    # --- ownership ---------------------------------------------------------------------------

    @property
    def partitions(self) -> set[int]:
        return set(self._stores)

    def assign(self, partitions: Iterable[int]) -> None:
        """Open the stores of ``partitions`` not open yet and restore each to its changelog end."""
        new = sorted(set(partitions) - set(self._stores))
        if not new:
            return
        for p in new:
            self._stores[p] = self._open(p)
        self._restore(new)

    def revoke(self, partitions: Iterable[int]) -> None:
        """Close the stores of ``partitions`` (nothing staged may be left for them)."""
        gone = set(partitions) & set(self._stores)
        for p in gone:
            if self._staged.get(p):
                raise StateStoreError(f"partition {p} revoked with uncommitted window state")
            self._staged.pop(p, None)
            self._stores.pop(p).close()
        if gone:
            self._cache = {e: v for e, v in self._cache.items() if v[0] not in gone}

    def close(self) -> None:
        self.discard()
        self.revoke(list(self._stores))

    def _open(self, partition: int) -> _Store:
        if self.kind == "memory":
            return _MemoryStore()
        return _RocksStore(self.directory / f"{partition}")

    # --- reading and staging (one batch at a time) -------------------------------------------

    def reading(self, partitions: Iterable[int]) -> WindowState:
        """Look up entities in these partitions' stores for the next batch; returns ``self``."""
        self._reading = tuple(partitions)
        return self

    def get(self, entity: str, default: bytes | None = None) -> bytes | None:
        for p in self._reading:
            staged = self._staged.get(p)
            if staged is not None:
                row = staged.get(entity)
                if row is not None:
                    return row
        cached = self._cache.get(entity)
        if cached is not None:
            return cached[1]
        key = entity.encode()
        for p in self._reading:
            store = self._stores.get(p)
            if store is None:
                continue
            row = store.get(key)
            if row is not None:
                if len(self._cache) >= MAX_CACHED:
                    self._cache.clear()
                self._cache[entity] = (p, row)
                return row
        return default

    def stage(self, partition: int, rows: dict[str, bytes]) -> None:
        """Keep a batch's new rows of ``partition`` until its transaction ends."""
        if rows:
            self._staged.setdefault(partition, {}).update(rows)

    def changelog_records(self) -> dict[int, list[tuple[bytes, bytes]]]:
        """One (key, row) per entity staged since the last commit, per changelog partition."""
        return {
            p: [(e.encode(), row) for e, row in rows.items()]
            for p, rows in self._staged.items()
            if rows
        }

    def apply(self, checkpoints: dict[int, int] | None = None) -> None:
        """The transaction committed: write the staged rows to the stores (with checkpoints)."""
        checkpoints = checkpoints or {}
        staged, self._staged = self._staged, {}
        for p in set(staged) | set(checkpoints):
            store = self._stores.get(p)
            if store is None:
                continue
            rows = staged.get(p, {})
            store.put_many({e.encode(): r for e, r in rows.items()}, checkpoints.get(p))
            if len(self._cache) + len(rows) >= MAX_CACHED:
                self._cache.clear()
            for e, row in rows.items():
                self._cache[e] = (p, row)

    def discard(self) -> None:
        """The transaction aborted: forget what it staged."""
        self._staged = {}

    # --- restore -----------------------------------------------------------------------------

    def _restore(self, partitions: list[int]) -> None:
        """Read each partition's changelog from its checkpoint to its end into its store."""
        started = time.monotonic()
        consumer = self._make_consumer()
        try:
            ends: dict[int, int] = {}
            starts: dict[int, int] = {}
            deadline = started + self._restore_timeout_s
            for p in partitions:
                low, high = watermarks(consumer, TopicPartition(self.changelog, p), deadline)
                start = self._stores[p].checkpoint()
                if start is None or start < low or start > high:
                    if start is not None and start > high:  # a changelog that was recreated
                        self._reset(p)
                    start = low
                if start < high:
                    starts[p], ends[p] = start, high
            if not starts:
                return
            consumer.assign([TopicPartition(self.changelog, p, o) for p, o in starts.items()])
            pending = set(starts)
            n = 0
            while pending:
                if time.monotonic() > deadline:
                    raise StateStoreError(
                        f"restoring window state from {self.changelog} partitions "
                        f"{sorted(pending)}: not at their end after "
                        f"{self._restore_timeout_s:.0f} s "
                        "(an open transaction of another worker holds them?)"
                    )
                rows: dict[int, dict[bytes, bytes]] = {}
                at_end: dict[int, int] = {}
                for msg in consumer.consume(10_000, timeout=0.2):
                    err = msg.error()
                    if err is not None:
                        # read_committed: the end is the last stable offset; a transaction
                        # still open below the high watermark keeps us waiting.
                        if err.code() == KafkaError._PARTITION_EOF:
                            at_end[msg.partition()] = msg.offset()
                        continue
                    if msg.value() is not None:
                        rows.setdefault(msg.partition(), {})[msg.key()] = msg.value()
                        n += 1
                for p, part_rows in rows.items():
                    self._stores[p].put_many(part_rows, None)
                positions = consumer.position([TopicPartition(self.changelog, p) for p in pending])
                for tp in positions:
                    at_end[tp.partition] = max(at_end.get(tp.partition, -1), tp.offset)
                for p, offset in at_end.items():
                    if p in pending and offset >= ends[p]:
                        pending.discard(p)
                        self._stores[p].put_many({}, ends[p])
            _log.info(
                "restored %d window-state records of %s partitions %s in %.1f s",
                n,
                self.changelog,
                sorted(starts),
                time.monotonic() - started,
            )
        finally:
            consumer.close()

    def _reset(self, partition: int) -> None:
        self._stores.pop(partition).close()
        if self.kind == "rocksdb":
            shutil.rmtree(self.directory / f"{partition}", ignore_errors=True)
        self._stores[partition] = self._open(partition)
