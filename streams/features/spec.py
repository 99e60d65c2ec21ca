"""The declarative, JSON-serialisable feature spec: an ordered list of steps.

Three kinds of step, run in the order listed:

- table steps rewrite the batch of events: ``filter``, ``cast``, ``property`` (pull a field out
  of the activity ``properties`` JSON into a column);
- feature steps write columns of the feature matrix: ``time``, ``onehot``, ``hashed``,
  ``tokens``, ``numeric``, ``windows`` (at most one: per-entity state);
- ``normalise`` steps (after every feature step) scale named feature columns with statistics
  fitted on data. A column matched by several normalise steps goes to the first.

Unknown keys and unknown ops are errors. Example: ``FeatureSpec.from_json(path.read_text())``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from streams.features.errors import FeatureSpecError

__all__ = [
    "CastStep",
    "FeatureSpec",
    "FilterStep",
    "HashedStep",
    "NormaliseStep",
    "NumericStep",
    "OneHotStep",
    "PropertyStep",
    "Step",
    "TimeStep",
    "TokensStep",
    "WindowStep",
]

ColumnName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Bits = Annotated[int, Field(ge=1, le=16)]
Seed = Annotated[int, Field(ge=0, lt=2**64)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
TimeFeature = Literal["hour", "dow", "hour_sin", "hour_cos", "dow_sin", "dow_cos"]


class _Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FilterStep(_Step):
    """Keep rows whose ``column`` (as text) is in ``keep``, or drop those in ``drop``."""

    op: Literal["filter"] = "filter"
    column: ColumnName
    keep: tuple[str, ...] | None = None
    drop: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _one_of_keep_drop(self) -> FilterStep:
        if (self.keep is None) == (self.drop is None):
            raise ValueError("a filter needs exactly one of 'keep' or 'drop'")
        return self


class CastStep(_Step):
    """Cast a column; text that is not a number becomes null when casting to a number."""

    op: Literal["cast"] = "cast"
    column: ColumnName
    to: Literal["float64", "int64", "string"]


class PropertyStep(_Step):
    """Copy top-level ``key`` of the JSON object in ``source`` into column ``name``.

    Read by a one-pass kernel (kernels.json_field_text), no per-row ``json.loads``: nested
    keys never match, the first occurrence wins, a string keeps its JSON escapes. As
    ``string``, numbers and booleans give their literal text; as ``float64``, a number may be
    bare or quoted. Absent, null, nested or non-numeric values give null.
    """

    op: Literal["property"] = "property"
    key: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    name: ColumnName
    to: Literal["string", "float64"] = "string"
    source: ColumnName = "properties"


class TimeStep(_Step):
    """Time-of-day and day-of-week features from an epoch-ms column (UTC; Monday = 0)."""

    op: Literal["time"] = "time"
    column: ColumnName = "ts_ms"
    features: tuple[TimeFeature, ...] = ("hour_sin", "hour_cos", "dow_sin", "dow_cos")


class OneHotStep(_Step):
    """One column per category plus ``<other>`` (unknown values and nulls)."""

    op: Literal["onehot"] = "onehot"
    column: ColumnName
    categories: tuple[str, ...] = Field(min_length=1)


class HashedStep(_Step):
    """One-hot of the value's hash bucket: ``2**bits`` columns; null sets none."""

    op: Literal["hashed"] = "hashed"
    column: ColumnName
    bits: Bits
    seed: Seed = 0


class TokensStep(_Step):
    """Hashed bag of tokens of a text column (e.g. log messages): ``2**bits`` count columns."""

    op: Literal["tokens"] = "tokens"
    column: ColumnName = "message"
    bits: Bits
    seed: Seed = 0
    skip_numeric: bool = True
    log1p: bool = False


class NumericStep(_Step):
    """A number column as one feature; null, NaN, +-inf and non-numeric text become ``fill``.

    ``log1p`` applies ``sign(x) * log1p(|x|)`` (keeps refunds negative)."""

    op: Literal["numeric"] = "numeric"
    column: ColumnName
    fill: float = Field(0.0, allow_inf_nan=False)
    log1p: bool = False


class WindowStep(_Step):
    """Per-entity windows: counts and sums per type over each horizon, decayed counts per
    half-life, recency per type, and session statistics (see kernels.windows.WindowLayout).

    Types not in ``types`` (and nulls) count as ``<other>``. ``value_column`` is summed (0 when
    absent). Times in seconds.
    """

    op: Literal["windows"] = "windows"
    entity_column: ColumnName = "entity"
    type_column: ColumnName = "event_type"
    types: tuple[str, ...] = Field(min_length=1)
    value_column: ColumnName | None = None
    horizons_s: tuple[Seconds, ...] = Field(min_length=1)
    halflives_s: tuple[Seconds, ...] = ()
    session_gap_s: Seconds = 1800.0
    recency_cap_s: Seconds = 90 * 86400.0


class NormaliseStep(_Step):
    """Scale the feature columns matching ``columns`` (fnmatch patterns) with fitted stats.

    ``standard``: (x - mean) / std; ``minmax``: (x - min) / (max - min); a constant column
    is only shifted. Non-finite values become 0.
    """

    op: Literal["normalise"] = "normalise"
    method: Literal["standard", "minmax"]
    columns: tuple[str, ...] = Field(min_length=1)


Step = Annotated[
    FilterStep
    | CastStep
    | PropertyStep
    | TimeStep
    | OneHotStep
    | HashedStep
    | TokensStep
    | NumericStep
    | WindowStep
    | NormaliseStep,
    Field(discriminator="op"),
]
TABLE_OPS = frozenset({"filter", "cast", "property"})


class FeatureSpec(BaseModel):
    """A named, versioned, ordered list of steps. Immutable; build with :meth:`from_json`,
    :meth:`default` or the constructor (which raises pydantic's ``ValidationError``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    name: str = Field(min_length=1)
    steps: tuple[Step, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSpec:
        ops = [s.op for s in self.steps]
        if ops.count("windows") > 1:
            raise ValueError("at most one 'windows' step (it owns the per-entity state)")
        if "normalise" in ops:
            first = ops.index("normalise")
            late = [i for i, op in enumerate(ops) if i > first and op != "normalise"]
            if late:
                raise ValueError(
                    f"normalise steps must come last; step(s) {late} follow the first one "
                    f"(step {first})"
                )
        if all(op in TABLE_OPS or op == "normalise" for op in ops):
            raise ValueError("the spec has no feature step (time/onehot/hashed/tokens/...)")
        return self

    def to_json(self, indent: int | None = 2) -> str:
        """The spec as JSON text, every field written out (defaults included)."""
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> FeatureSpec:
        """Parse and validate a JSON spec; raises :class:`FeatureSpecError` saying where."""
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise FeatureSpecError(_describe("reading a feature spec", exc)) from exc


def _describe(doing: str, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        problems.append(f"{where}: {err['msg']} (got {err.get('input')!r:.80})")
    return f"{doing}: " + "; ".join(problems)
