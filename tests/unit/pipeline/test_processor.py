"""BatchProcessor without Kafka: every record ends as scores or one dead letter, per partition."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pytest

from schemas import DeadLetterStage, decode_dead_letter, decode_score_batch, decode_score_result
from streams.etl import parse_batch
from streams.etl.types import FileOrigin
from streams.features import FeaturePipeline, FittedPipeline, default_spec
from streams.pipeline import BatchProcessor, SourceRecords
from streams.scoring import ModelSet, ScoredBatch
from tests.support.workload import mixed_workload


class Constant:
    """A model that scores every row it is given with ``value`` (or raises, when value is an
    exception); it declares that it scores ``entity_kinds`` (users, as churn and upsell do)."""

    def __init__(
        self, name: str, value, version: str = "v1", entity_kinds: tuple[str, ...] = ("user",)
    ) -> None:
        self.name, self.value, self.version = name, value, version
        self.entity_kinds = entity_kinds
        self.calls: list[int] = []  # rows per call

    def score_batch(self, X, names) -> ScoredBatch:
        if isinstance(self.value, Exception):
            raise self.value
        n = len(X)
        self.calls.append(n)
        return ScoredBatch(
            self.name,
            self.version,
            0.5,
            np.full(n, self.value, np.float32),
            [f"{self.name}@{self.version}"] * n,
            np.zeros(n, bool),
        )

    def warm_up(self, width: int) -> None:
        pass


@pytest.fixture(scope="module")
def workload():
    return mixed_workload(600, seed=3, malformed_frac=0.05)


def fit_serving(workload) -> FittedPipeline:
    """The serving spec fitted on a workload's activity JSON (shared by the pipeline tests)."""
    values = [v for _, v in workload.json_activity]
    events = parse_batch(values, "activity", FileOrigin("fit", 1)).events
    return FeaturePipeline(default_spec("serving")).fit(pa.Table.from_batches([events]))


@pytest.fixture(scope="module")
def pipeline(workload):
    return fit_serving(workload)


def records(workload) -> SourceRecords:
    values = (
        [v for _, v in workload.json_activity]
        + [v for _, v in workload.log_lines]
        + [v for _, v in workload.malformed]
    )
    n = len(values)
    parts = np.sort(np.arange(n) % 3).astype(np.int32)  # three partitions, grouped
    return SourceRecords(
        "in", parts, np.arange(n, dtype=np.int64), [None] * n, values, np.full(n, 7, np.int64)
    )


def test_every_record_is_scored_or_dead_lettered_on_its_partition(workload, pipeline):
    recs = records(workload)
    models = ModelSet(pipeline, [Constant("churn", 0.25), Constant("upsell", 0.75)])
    out = BatchProcessor(models, clock_ms=lambda: 123).process(recs, {})
    n_valid = len(workload.json_activity) + len(workload.log_lines)
    assert out.events == out.scored_records == n_valid
    # The user models score the users' events; the log lines' entities are hosts: counted
    # events, no results, and counted as not scored by design.
    n_users, n_hosts = len(workload.json_activity), len(workload.log_lines)
    assert len(out.scores) == 2 * n_users
    assert out.stats.not_scored == {("churn", "host"): n_hosts, ("upsell", "host"): n_hosts}
    letters = [decode_dead_letter(v) for _, v in out.dead_letters]
    assert len(letters) == len(workload.malformed)
    assert {(d.source_topic, d.source_offset) for d in letters} == {
        ("in", o) for o in range(n_valid, len(recs))
    }
    for d in letters:
        assert d.value == recs.values[d.source_offset]  # original bytes, untouched
        assert d.source_partition == recs.partitions[d.source_offset]
        assert d.stage in (DeadLetterStage.PARSE, DeadLetterStage.VALIDATE) and d.reason
    index_of = {eid: i for i, eid in enumerate(workload.event_ids)}  # JSON events come first
    for partition, part in out.partitions.items():
        for _, value in part.scores:
            r = decode_score_result(value)
            assert r["scored_time_ms"] == 123 and r["score"] in (0.25, 0.75)
            assert r["event_id"] in index_of  # a user's event: never a host's
            if r["event_id"] in index_of:  # results stay on their record's partition
                assert recs.partitions[index_of[r["event_id"]]] == partition
        for value in part.score_batches:
            assert len(decode_score_batch(value).event_id) > 0
        assert all(isinstance(f, bytes) for f in part.features)
    assert sum(len(p.state_rows) for p in out.partitions.values()) > 0


def test_featurise_or_score_failure_dead_letters_the_batch(workload, pipeline):
    recs = records(workload)
    broken = ModelSet(pipeline, [Constant("churn", RuntimeError("model exploded"))])
    out = BatchProcessor(broken).process(recs, {})
    assert not out.scores and out.events == 0
    letters = [decode_dead_letter(v) for _, v in out.dead_letters]
    assert len(letters) == len(recs)  # parse rejects plus every record that had events
    scored_stage = [d for d in letters if d.stage == DeadLetterStage.SCORE]
    assert len(scored_stage) == len(recs) - len(workload.malformed)
    assert "model exploded" in scored_stage[0].reason

    bad_state = {"u00001": b"\x00" * 3}  # a corrupt state row: featurising fails
    entity_rec = SourceRecords(
        "in",
        np.zeros(1, np.int32),
        np.zeros(1, np.int64),
        [None],
        [b'{"event_id":"e","user_id":"u00001","ts":1780000000000,"type":"login"}'],
        np.zeros(1, np.int64),
    )
    out = BatchProcessor(ModelSet(pipeline, [Constant("churn", 0.5)])).process(
        entity_rec, bad_state
    )
    (letter,) = [decode_dead_letter(v) for _, v in out.dead_letters]
    assert letter.stage == DeadLetterStage.FEATURISE


def test_shadow_challenger_goes_to_the_snapshot_only(workload, pipeline):
    recs = records(workload)
    models = ModelSet(
        pipeline,
        [Constant("churn", 0.25)],
        shadows=[
            Constant("churn", 0.9, version="v2"),
            Constant("upsell", RuntimeError("shadow broke"), "v9"),
        ],
    )
    out = BatchProcessor(models).process(recs, {})
    n_users = len(workload.json_activity)
    assert len(out.scores) == n_users  # the champion only, despite a broken shadow
    assert {decode_score_result(v)["model_version"] for _, v in out.scores} == {"v1"}
    snapshot = next(f for p in out.partitions.values() for f in p.features)
    table = pa.ipc.open_stream(io.BytesIO(snapshot)).read_all()
    assert "score.churn" in table.column_names and "shadow.churn@v2" in table.column_names
    users = table["entity"].to_numpy(zero_copy_only=False).astype(str)
    users = np.char.startswith(users, "u")
    shadow = table["shadow.churn@v2"].to_numpy(zero_copy_only=False)
    assert np.allclose(shadow[users], 0.9) and np.isnan(shadow[~users]).all()


def test_batch_stats_for_the_metrics(workload, pipeline):
    recs = records(workload)
    fallback = Constant("upsell", 0.75)
    fallback.score_batch = lambda X, names: ScoredBatch(
        "upsell",
        "v1",
        0.5,
        np.full(len(X), 0.5, np.float32),
        ["upsell@v0"] * len(X),
        np.ones(len(X), bool),
    )
    models = ModelSet(pipeline, [Constant("churn", 0.25), fallback], [Constant("churn", 0.5, "v2")])
    out = BatchProcessor(models).process(recs, {})
    stats = out.stats
    n_users = len(workload.json_activity)
    assert set(stats.stage_seconds) == {"parse", "featurise", "score", "encode"}
    assert all(s >= 0 for s in stats.stage_seconds.values())
    assert {k: len(v) for k, v in stats.scores.items()} == {"churn": n_users, "upsell": n_users}
    assert sorted(stats.models) == [
        ("churn", "v1", "champion"),
        ("churn", "v2", "shadow"),
        ("upsell", "v1", "champion"),
    ]
    assert stats.fallbacks == {("upsell", "upsell@v0"): n_users}
    assert sum(stats.dead_letters.values()) == len(workload.malformed)
    assert all(":" not in reason for _, reason in stats.dead_letters)


def test_failed_batch_stats_count_dead_letters_not_scores(workload, pipeline):
    models = ModelSet(pipeline, [Constant("churn", RuntimeError("model fell over"))])
    out = BatchProcessor(models).process(records(workload), {})
    assert out.stats.scores == {} and out.stats.models == []
    assert sum(out.stats.dead_letters.values()) == len(records(workload))
    assert ("score", "score of a batch of N events failed") in out.stats.dead_letters


def test_oversized_record_becomes_one_capped_dead_letter_keyed_by_the_capped_key(pipeline):
    import hashlib

    huge = b"{" + b"x" * (3 * 1024 * 1024)  # not JSON: a parse dead letter
    key = b"u" * 20_000
    recs = SourceRecords(
        "in", np.zeros(1, np.int32), np.full(1, 41, np.int64), [key], [huge], np.zeros(1, np.int64)
    )
    models = ModelSet(pipeline, [Constant("churn", 0.5)])
    out = BatchProcessor(models, dead_letter_max_value_bytes=64 * 1024).process(recs, {})
    ((record_key, value),) = out.dead_letters
    letter = decode_dead_letter(value)
    assert letter.source_offset == 41 and letter.stage == DeadLetterStage.PARSE
    assert letter.value == huge[: 64 * 1024] and letter.value_truncated
    assert letter.original_value_length == len(huge)
    assert letter.original_value_sha256 == hashlib.sha256(huge).hexdigest()
    assert letter.key_truncated and letter.original_key_length == len(key)
    assert record_key == letter.key == key[: len(letter.key)] and len(record_key) < len(key)
    assert len(value) < 64 * 1024 + 64 * 1024  # the cap plus the envelope (a 16 KiB key in it)


def test_each_input_topic_scores_only_its_own_kind(workload, pipeline):
    """The worker's agents pass their topic's kind: log lines on the activity topic and
    activity events on the raw-logs topic are dead letters that say what the topic takes."""
    from streams.etl import TopicKind, topic_kind_of

    assert topic_kind_of("activity") is TopicKind.ACTIVITY
    assert topic_kind_of("raw-logs") is TopicKind.LOGS
    recs = records(workload)
    models = ModelSet(pipeline, [Constant("churn", 0.25)])
    n_json, n_logs = len(workload.json_activity), len(workload.log_lines)
    for kind, scored, wrong in (
        (TopicKind.ACTIVITY, range(n_json), range(n_json, n_json + n_logs)),
        (TopicKind.LOGS, range(n_json, n_json + n_logs), range(n_json)),
    ):
        out = BatchProcessor(models, topic_kind=kind).process(recs, {})
        assert out.scored_records == len(scored)
        letters = {
            d.source_offset: d for d in map(decode_dead_letter, (v for _, v in out.dead_letters))
        }
        assert set(wrong) <= set(letters)
        assert set(scored).isdisjoint(letters)
        topic = "raw-logs" if kind is TopicKind.LOGS else "activity"
        for offset in wrong:
            assert letters[offset].reason.startswith(f"payload on the {topic} topic: expected")
            assert letters[offset].stage == DeadLetterStage.PARSE
