"""The processor's dead letters: the stage comes from the typed error raised where a step
failed (no note is read back), and the letters are the ones the ETL's builder makes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from schemas import DeadLetterStage, decode_dead_letter, encode_dead_letter
from streams.etl import TopicOrigin, dead_letter_of, parse_batch
from streams.etl.types import FileOrigin
from streams.features import FeaturePipeline, default_spec
from streams.pipeline import BatchProcessor, SourceRecords
from streams.scoring import ModelSet, ScoredBatch

ACTIVITY = [
    b'{"event_id":"e%d","user_id":"u%d","ts":%d,"type":"login"}' % (i, i % 3, 1780000000000 + i)
    for i in range(6)
]
BAD = [b"\xff junk", b'{"event_id": 1}', b"", None, b"{", b"not a log line at all"]


class Model:
    """Scores every row 0.5, or raises ``error``; ``extra`` rows make its output the wrong
    length (what the encoding step rejects, after the model returned). It scores users, as
    churn does (``entity_kinds``)."""

    entity_kinds = ("user",)

    def __init__(self, error: Exception | None = None, extra: int = 0) -> None:
        self.name, self.error, self.extra = "churn", error, extra

    def score_batch(self, X, names) -> ScoredBatch:
        if self.error is not None:
            raise self.error
        n = len(X) + self.extra
        return ScoredBatch(
            "churn", "v1", 0.5, np.full(n, 0.5, np.float32), ["churn@v1"] * n, np.zeros(n, bool)
        )

    def warm_up(self, width: int) -> None:
        pass


@pytest.fixture(scope="module")
def pipeline():
    events = parse_batch(ACTIVITY, "activity", FileOrigin("fit", 1)).events
    return FeaturePipeline(default_spec("serving")).fit(pa.Table.from_batches([events]))


def source(values, topic: str = "activity") -> SourceRecords:
    n = len(values)
    return SourceRecords(
        topic,
        (np.arange(n) >= n // 2).astype(np.int32),  # two partitions, grouped
        np.arange(100, 100 + n, dtype=np.int64),
        [b"key%d" % i if i % 3 else None for i in range(n)],
        list(values),
        np.arange(5000, 5000 + n, dtype=np.int64),
    )


def letters_of(out) -> list:
    return sorted(
        (decode_dead_letter(v) for p in out.partitions.values() for _, v in p.dead_letters),
        key=lambda d: d.source_offset,
    )


@pytest.mark.parametrize(
    ("state", "model", "stage", "says"),
    [
        ({"u1": b"\x00" * 3}, Model(), DeadLetterStage.FEATURISE,
         "featurise of a batch of 6 events failed: FeatureInputError: reading window state"),
        ({}, Model(RuntimeError("model exploded")), DeadLetterStage.SCORE,
         "score of a batch of 6 events failed: RuntimeError: model exploded"),
        ({}, Model(extra=1), DeadLetterStage.FEATURISE,  # encoding counts as featurise
         "featurise of a batch of 6 events failed: CodecError: building ScoreColumns"),
    ],
)  # fmt: skip
def test_a_failed_step_dead_letters_its_batch_with_its_stage(pipeline, state, model, stage, says):
    recs = source(ACTIVITY)
    out = BatchProcessor(ModelSet(pipeline, [model]), clock_ms=lambda: 9).process(recs, state)
    assert out.events == 0 and not out.scores
    letters = letters_of(out)
    assert [d.source_offset for d in letters] == list(range(100, 106))  # every record, once
    assert {d.stage for d in letters} == {stage}
    assert all(d.reason.startswith(says) for d in letters), letters[0].reason
    assert [d.value for d in letters] == ACTIVITY
    assert [d.source_partition for d in letters] == [0, 0, 0, 1, 1, 1]
    assert [d.record_time_ms for d in letters] == list(range(5000, 5006))
    assert {d.dead_time_ms for d in letters} == {9}
    (label,) = {label for label, _ in out.stats.dead_letters}  # the metrics label
    assert label == stage.label and sum(out.stats.dead_letters.values()) == len(ACTIVITY)


def test_the_pipeline_and_the_etl_make_the_same_dead_letters(pipeline):
    """The same bad records: the processor's letters equal the ETL's builder's, field by field
    (stage, reason, source, key, value, times, truncation)."""
    values = [ACTIVITY[0], *BAD, ACTIVITY[1]]
    recs = source(values)
    processor = BatchProcessor(ModelSet(pipeline, [Model()]), clock_ms=lambda: 77,
                               dead_letter_max_value_bytes=4)  # fmt: skip
    piped = letters_of(processor.process(recs, {}))

    origins = [
        TopicOrigin(recs.topic, int(p), int(o))
        for p, o in zip(recs.partitions, recs.offsets, strict=True)
    ]
    pb = parse_batch(values, "auto", origins)
    by_offset = {r.origin.offset: r for r in pb.rejected}
    etl = []
    for i, offset in enumerate(recs.offsets.tolist()):
        if offset in by_offset:
            letter = dead_letter_of(
                by_offset[offset],
                key=recs.keys[i],
                record_time_ms=int(recs.timestamps_ms[i]),
                dead_time_ms=77,
                tombstone=values[i] is None,
                max_value_bytes=4,
            )
            etl.append(decode_dead_letter(encode_dead_letter(letter, max_value_bytes=4)))
    assert len(piped) == len(BAD) and piped == etl
    assert {d.stage for d in piped} == {DeadLetterStage.PARSE, DeadLetterStage.VALIDATE}
    assert piped[BAD.index(None)].value is None  # the tombstone stays a tombstone
    assert any(d.value_truncated for d in piped)  # both capped the same way
