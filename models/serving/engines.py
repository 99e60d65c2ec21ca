"""Inference engines: one callable per way of running a loaded model on a float32 batch.

``TFFunctionEngine`` runs the Keras graph through one ``tf.function`` with the fixed signature
float32 [None, d] (traced once, no per-call retracing). ``LiteRTEngine`` runs the exported
LiteRT flatbuffer with one interpreter per batch size (resizing an interpreter reallocates its
tensors, so sizes seen before are kept, up to ``max_shapes``). ``NumpyEngine`` calls the
model's own scorer (the logistic baseline). :func:`choose_engine` picks.

Where the choice is measured: when a model with a LiteRT export is saved, :func:`record_engines`
runs both engines on a seeded probe batch and writes ``serving.json`` beside the artifacts (the
Keras model's scores on the probe batch, both timings, the choice, the SHA-256 of each artifact).
Loading with ``auto`` then follows that record: it runs the LiteRT export on the same probe
batch, checks it against the recorded Keras scores, and serves it without importing TensorFlow
(about 8 CPU-seconds of a worker's start). Keras is loaded only when the record chose
tf.function, when the export does not load or disagrees (``degraded``), or when a model has no
record (saved before it existed: both engines are measured at load, as they always were).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from models.contract import ScoringModel
from models.errors import ModelLoadError

__all__ = [
    "Engine",
    "EngineName",
    "LiteRTEngine",
    "NumpyEngine",
    "TFFunctionEngine",
    "choose_engine",
    "record_engines",
]

EngineName = Literal["auto", "tf_function", "litert", "numpy"]
AGREEMENT = 1e-5  # max |difference| allowed between engines on the same batch
RECORD_FILE = "serving.json"  # the engine measurement saved with a model's artifacts
PROBE_ROWS = 1024
PROBE_SEED = 0


class Engine(Protocol):
    name: str

    def __call__(self, X: np.ndarray) -> np.ndarray: ...


class NumpyEngine:
    name = "numpy"

    def __init__(self, model: ScoringModel) -> None:
        self._score = model._score

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self._score(X)


class TFFunctionEngine:
    name = "tf_function"

    def __init__(self, model: ScoringModel) -> None:
        self._fn = model.tf_function()  # type: ignore[attr-defined]

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self._fn(X).numpy()


class LiteRTEngine:
    name = "litert"

    def __init__(self, path: Path, n_features: int, threads: int = 1, max_shapes: int = 8):
        from ai_edge_litert.interpreter import Interpreter

        self._content = Path(path).read_bytes()
        self._make = lambda: Interpreter(model_content=self._content, num_threads=threads)
        self._d = n_features
        self._max = max_shapes
        self._by_rows: OrderedDict[int, tuple] = OrderedDict()
        try:
            probe = self._make()
        except Exception as exc:  # a corrupt flatbuffer raises ValueError/RuntimeError
            raise ModelLoadError(f"loading LiteRT model {path}: {exc!r}") from exc
        d = int(probe.get_input_details()[0]["shape_signature"][-1])
        if d != n_features:
            raise ModelLoadError(f"LiteRT model {path}: expected {n_features} inputs, got {d}")

    def _interpreter(self, rows: int):
        entry = self._by_rows.get(rows)
        if entry is None:
            it = self._make()
            inp = it.get_input_details()[0]["index"]
            it.resize_tensor_input(inp, [rows, self._d])
            it.allocate_tensors()
            entry = (it, inp, it.get_output_details()[0]["index"])
            self._by_rows[rows] = entry
            if len(self._by_rows) > self._max:
                self._by_rows.popitem(last=False)
        else:
            self._by_rows.move_to_end(rows)
        return entry

    def __call__(self, X: np.ndarray) -> np.ndarray:
        it, inp, out = self._interpreter(X.shape[0])
        it.set_tensor(inp, X)
        it.invoke()
        return it.get_tensor(out).reshape(-1).copy()


def _best_time(engine: Engine, X: np.ndarray, repeats: int = 5) -> float:
    engine(X)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        engine(X)
        best = min(best, time.perf_counter() - t)
    return best


def probe_batch(d: int, rows: int = PROBE_ROWS, seed: int = PROBE_SEED) -> np.ndarray:
    """The seeded float32 [rows, d] batch both engines are compared on."""
    return np.random.default_rng(seed).normal(size=(rows, d)).astype(np.float32)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _degraded(tfl: Path, why: str) -> dict:
    """The report of a model served through tf.function because its LiteRT export is unusable."""
    return {
        "engine": "tf_function",
        "degraded": f"LiteRT export {tfl.name} unusable, serving the Keras model: {why}",
    }


def _measure(model: ScoringModel, tfl: Path) -> tuple[Engine, LiteRTEngine | None, dict]:
    """Both engines on the probe batch: the tf.function engine, the LiteRT one (None when the
    export is unusable), and the report (the choice, the timings, the difference, or why the
    export is unusable under ``degraded``)."""
    tf_engine = TFFunctionEngine(model)
    X = probe_batch(len(model.feature_names))
    try:
        lite = LiteRTEngine(tfl, X.shape[1])
        lite_scores = lite(X)
    except Exception as exc:
        return (
            tf_engine,
            None,
            _degraded(tfl, str(exc)[:300] or type(exc).__name__),
        )
    reference = tf_engine(X)
    diff = float(np.max(np.abs(reference - lite_scores)))
    t_tf, t_lite = _best_time(tf_engine, X), _best_time(lite, X)
    use_lite = diff <= AGREEMENT and t_lite < t_tf
    return (
        tf_engine,
        lite,
        {
            "engine": "litert" if use_lite else "tf_function",
            "max_abs_diff": diff,
            "probe_rows": PROBE_ROWS,
            "seconds_tf_function": t_tf,
            "seconds_litert": t_lite,
            "reference_scores": [float(v) for v in reference],
        },
    )


def record_engines(model: ScoringModel, artifact_dir: Path, files: tuple[str, ...]) -> dict:
    """Measure both engines of a model whose artifacts (``files``, e.g. ``model.keras`` and
    ``model.tflite``) were just written to ``artifact_dir``, and write the record loads follow
    (``serving.json``: the choice, the timings, the Keras scores of the probe batch, the
    SHA-256 of each file). Returns the record."""
    artifact_dir = Path(artifact_dir)
    _, _, report = _measure(model, artifact_dir / "model.tflite")
    record = {
        **report,
        "probe_seed": PROBE_SEED,
        "sha256": {name: sha256_of(artifact_dir / name) for name in files},
    }
    tmp = artifact_dir / f".tmp.{RECORD_FILE}"
    tmp.write_text(json.dumps(record))
    tmp.replace(artifact_dir / RECORD_FILE)
    return record


def read_record(artifact_dir: Path | None) -> dict | None:
    """The engine record saved with a model, or None (no record, or one that does not parse:
    the engines are then measured at load)."""
    if artifact_dir is None:
        return None
    try:
        record = json.loads((Path(artifact_dir) / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return None
    ok = (
        isinstance(record, dict)
        and record.get("engine") in ("litert", "tf_function")
        and record.get("probe_seed") == PROBE_SEED
        and isinstance(record.get("reference_scores", []), list)
    )
    return record if ok else None


def _follow_record(model: ScoringModel, tfl: Path, record: dict) -> tuple[Engine, dict] | None:
    """Serve as the saved record says, checking the LiteRT export against the recorded Keras
    scores on the probe batch; None when the record cannot be followed (then measure)."""
    public = {k: v for k, v in record.items() if k not in ("reference_scores", "sha256")}
    if record["engine"] == "tf_function":
        return TFFunctionEngine(model), {**public, "recorded": True}
    reference = np.asarray(record.get("reference_scores", []), dtype=np.float32)
    d = len(model.feature_names)
    if reference.shape != (PROBE_ROWS,):
        return None
    try:
        lite = LiteRTEngine(tfl, d)
        diff = float(np.max(np.abs(lite(probe_batch(d)) - reference)))
    except Exception as exc:
        why = str(exc)[:300] or type(exc).__name__
    else:
        if diff <= AGREEMENT:
            return lite, {**public, "recorded": True, "max_abs_diff_at_load": diff}
        why = f"its scores differ from the recorded Keras scores by {diff:.3g} (> {AGREEMENT})"
    return TFFunctionEngine(model), _degraded(tfl, why)


def choose_engine(
    model: ScoringModel,
    artifact_dir: Path | None,
    prefer: EngineName = "auto",
    probe_rows: int = 1024,
) -> tuple[Engine, dict]:
    """Build the engine(s) for ``model`` and pick one.

    With ``prefer="auto"`` and a model that has both a tf.function and a LiteRT export, the
    record saved with the model decides (:func:`record_engines`): LiteRT, checked on the probe
    batch against the recorded Keras scores, or tf.function. Without a record both run on the
    probe batch; LiteRT is chosen only if it agrees within ``AGREEMENT`` and is faster.
    Returns the engine and a report (timings in seconds, max difference, choice).

    The LiteRT export is optional: when it does not load, fails on the probe batch or
    disagrees with the recorded scores (a corrupt or truncated file), the Keras model serves
    through tf.function and the report says why under ``degraded``. Only ``prefer="litert"``
    makes that an error.
    """
    has_tf = hasattr(model, "tf_function")
    tfl = None if artifact_dir is None else Path(artifact_dir) / "model.tflite"
    if not has_tf or prefer == "numpy":
        return NumpyEngine(model), {"engine": "numpy"}
    if prefer == "tf_function" or tfl is None or not tfl.exists():
        return TFFunctionEngine(model), {"engine": "tf_function"}
    d = len(model.feature_names)
    if prefer == "litert":
        return LiteRTEngine(tfl, d), {"engine": "litert"}
    record = read_record(artifact_dir)
    followed = None if record is None else _follow_record(model, tfl, record)
    if followed is not None:
        return followed
    tf_engine, lite, report = _measure(model, tfl)
    report.pop("reference_scores", None)
    return (lite if report["engine"] == "litert" else tf_engine), report
