"""Inference engines: one callable per way of running a loaded model on a float32 batch.

``TFFunctionEngine`` runs the Keras graph through one ``tf.function`` with the fixed signature
float32 [None, d] (traced once, no per-call retracing). ``LiteRTEngine`` runs the exported
LiteRT flatbuffer with one interpreter per batch size (resizing an interpreter reallocates its
tensors, so sizes seen before are kept, up to ``max_shapes``). ``NumpyEngine`` calls the
model's own scorer (the logistic baseline). :func:`choose_engine` measures and picks.
"""

from __future__ import annotations

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
]

EngineName = Literal["auto", "tf_function", "litert", "numpy"]
AGREEMENT = 1e-5  # max |difference| allowed between engines on the same batch


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


def choose_engine(
    model: ScoringModel,
    artifact_dir: Path | None,
    prefer: EngineName = "auto",
    probe_rows: int = 1024,
) -> tuple[Engine, dict]:
    """Build the engine(s) for ``model`` and pick one.

    With ``prefer="auto"`` and a model that has both a tf.function and a LiteRT export, both run
    on a seeded probe batch; LiteRT is chosen only if it agrees within ``AGREEMENT`` and is
    faster. Returns the engine and a report (timings in seconds, max difference, choice).

    The LiteRT export is optional: when it does not load or fails on the probe batch (a
    corrupt or truncated file), the Keras model serves through tf.function and the report
    says why under ``degraded``. Only ``prefer="litert"`` makes that an error.
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
    tf_engine = TFFunctionEngine(model)
    X = np.random.default_rng(0).normal(size=(probe_rows, d)).astype(np.float32)
    try:
        lite = LiteRTEngine(tfl, d)
        lite_scores = lite(X)
    except Exception as exc:
        return tf_engine, {
            "engine": "tf_function",
            "degraded": f"LiteRT export {tfl.name} unusable, serving the Keras model: "
            f"{str(exc)[:300] or type(exc).__name__}",
        }
    diff = float(np.max(np.abs(tf_engine(X) - lite_scores)))
    t_tf, t_lite = _best_time(tf_engine, X), _best_time(lite, X)
    use_lite = diff <= AGREEMENT and t_lite < t_tf
    report = {
        "engine": "litert" if use_lite else "tf_function",
        "max_abs_diff": diff,
        "probe_rows": probe_rows,
        "seconds_tf_function": t_tf,
        "seconds_litert": t_lite,
    }
    return (lite if use_lite else tf_engine), report
