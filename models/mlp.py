"""A Keras 3 multi-layer perceptron for tabular feature vectors.

Inputs pass through an optional signed log (``sign(x) * log1p(|x|)``, for raw count-like
features) and a normalisation fitted on the training set, both inside the Keras graph so the
exported LiteRT model takes the same feature vector as the pipeline produces. Trained with
Adam and early stopping on a validation split.

No embedding layer: the default pipeline emits hashed categoricals already expanded into
one-hot bucket columns (``plan#0..15``), and a dense layer over a one-hot block is exactly an
embedding lookup; an integer-id input would be needed for a separate Embedding to pay off.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models._tf import tensorflow
from models.contract import FitReport, ScoringModel
from models.errors import ModelLoadError
from models.serving.engines import read_record, record_engines, sha256_of

__all__ = ["MLPModel", "MLPParams"]

KERAS_FILE = "model.keras"
LITERT_FILE = "model.tflite"


@dataclass(frozen=True)
class MLPParams:
    hidden: tuple[int, ...] = (32, 16)
    dropout: float = 0.3
    learning_rate: float = 2e-3
    l2: float = 1e-3
    batch_size: int = 256
    epochs: int = 40
    patience: int = 5  # epochs without validation-loss improvement before stopping
    signed_log: bool = False  # the default pipeline already standardises its counts
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))


def _signed_log_layer():
    tensorflow()  # before Keras imports it: quiet start, thread limits
    import keras

    @keras.saving.register_keras_serializable(package="streamscore")
    class SignedLog(keras.layers.Layer):
        """sign(x) * log1p(|x|): keeps order and sign, compresses heavy-tailed counts."""

        def call(self, x):
            return keras.ops.sign(x) * keras.ops.log(1.0 + keras.ops.abs(x))

    return SignedLog


_SIGNED_LOG = None


def signed_log_cls():
    global _SIGNED_LOG
    if _SIGNED_LOG is None:
        _SIGNED_LOG = _signed_log_layer()
    return _SIGNED_LOG


def _EpochBar(epochs: int):
    tensorflow()
    import keras
    from tqdm import tqdm

    class EpochBar(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=epochs, desc="fit", unit="epoch")

        def on_epoch_end(self, epoch, logs=None):
            self.bar.set_postfix(val_loss=f"{(logs or {}).get('val_loss', float('nan')):.4f}")
            self.bar.update()

        def on_train_end(self, logs=None):
            self.bar.close()

    return EpochBar()


class MLPModel(ScoringModel):
    kind = "mlp"

    def __init__(self, params: MLPParams | None = None) -> None:
        super().__init__()
        self.params = params or MLPParams()
        self._keras = None
        self._keras_path: Path | None = None  # a saved model's Keras file, loaded on first use
        self._fn = None
        self.progress = False  # show a tqdm bar over epochs while fitting (not a hyper-parameter)

    @property
    def keras_model(self):
        """The Keras model: built by :meth:`fit`, or loaded from the saved file the first time
        it is needed (a model served through its LiteRT export never loads it)."""
        if self._keras is None and self._keras_path is not None:
            self._keras = self._load_keras(self._keras_path)
        return self._keras

    @keras_model.setter
    def keras_model(self, model) -> None:
        self._keras, self._keras_path = model, None

    def _build(self, X: np.ndarray):
        tf = tensorflow()
        import keras

        keras.utils.set_random_seed(self.params.seed)
        p = self.params
        inp = keras.Input((X.shape[1],), dtype="float32", name="features")
        h = signed_log_cls()(name="signed_log")(inp) if p.signed_log else inp
        norm = keras.layers.Normalization(name="normalise")
        pre = np.sign(X) * np.log1p(np.abs(X)) if p.signed_log else X
        norm.adapt(tf.constant(pre))
        h = norm(h)
        for i, width in enumerate(p.hidden):
            h = keras.layers.Dense(
                width,
                activation="relu",
                kernel_regularizer=keras.regularizers.l2(p.l2),
                name=f"dense_{i}",
            )(h)
            if p.dropout > 0:
                h = keras.layers.Dropout(p.dropout, seed=p.seed + i)(h)
        out = keras.layers.Dense(1, activation="sigmoid", name="p")(h)
        model = keras.Model(inp, out, name=f"mlp_{len(p.hidden)}x")
        model.compile(
            optimizer=keras.optimizers.Adam(p.learning_rate),
            loss="binary_crossentropy",
        )
        return model

    def fit(self, X, y, *, names, fingerprint, X_val=None, y_val=None) -> FitReport:
        X, y = self._begin_fit(X, y, names, fingerprint)
        tensorflow()
        import keras

        if X_val is None or y_val is None:  # hold out 10% (seeded) for early stopping
            idx = np.random.default_rng(self.params.seed).permutation(len(X))
            cut = max(1, len(X) // 10)
            X_val, y_val = X[idx[:cut]], y[idx[:cut]]
            X, y = X[idx[cut:]], y[idx[cut:]]
        X_val = self._check_matrix(X_val)
        self.keras_model = self._build(X)
        callbacks = [
            keras.callbacks.EarlyStopping(patience=self.params.patience, restore_best_weights=True)
        ]
        if self.progress:
            callbacks.append(_EpochBar(self.params.epochs))
        hist = self.keras_model.fit(
            X,
            y,
            validation_data=(X_val, np.asarray(y_val, np.float32)),
            epochs=self.params.epochs,
            batch_size=self.params.batch_size,
            callbacks=callbacks,
            verbose=0,
            shuffle=True,
        )
        self._fn = None
        h = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
        return FitReport(epochs=len(h["loss"]), best_val_loss=min(h["val_loss"]), history=h)

    def tf_function(self):
        """A ``tf.function`` with the fixed signature float32 [None, d] -> float32 [None]."""
        if self._fn is None:
            tf = tensorflow()
            model = self.keras_model
            spec = tf.TensorSpec([None, len(self.feature_names)], tf.float32, name="features")

            @tf.function(input_signature=[spec], reduce_retracing=False)
            def score(x):
                return tf.reshape(model(x, training=False), [-1])

            self._fn = score
        return self._fn

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self.tf_function()(X).numpy()

    def to_litert(self) -> bytes:
        """The model as a LiteRT flatbuffer, converted from a SavedModel export of the Keras
        model (not from a concrete function: that path silently drops Keras 3 weights; and not
        ``from_keras_model``, which prints the export's captures to stdout)."""
        import tempfile

        tf = tensorflow()
        with tempfile.TemporaryDirectory(prefix="streamscore-export-") as tmp:
            self.keras_model.export(tmp, format="tf_saved_model", verbose=False)
            return tf.lite.TFLiteConverter.from_saved_model(tmp).convert()

    def _save_artifacts(self, path: Path) -> None:
        import warnings

        tmp = path / f".tmp.{KERAS_FILE}"
        with warnings.catch_warnings():  # keras' own numpy-2 copy= deprecation, not ours
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="keras")
            self.keras_model.save(tmp)
        tmp.replace(path / KERAS_FILE)
        tmp = path / f".tmp.{LITERT_FILE}"
        tmp.write_bytes(self.to_litert())
        tmp.replace(path / LITERT_FILE)
        record_engines(self, path, (KERAS_FILE, LITERT_FILE))

    def _load_artifacts(self, path: Path) -> None:
        """With an engine record (saved since it existed), check the Keras file against the
        SHA-256 it recorded and leave loading it to the first use; without one, load it now."""
        self._fn = None
        record = read_record(path)
        expected = (record or {}).get("sha256", {}).get(KERAS_FILE)
        if expected is None:
            self.keras_model = self._load_keras(path / KERAS_FILE)
            return
        got = sha256_of(path / KERAS_FILE)
        if got != expected:
            raise ModelLoadError(
                f"loading {path / KERAS_FILE}: expected the file saved with SHA-256 "
                f"{expected[:16]}..., got {got[:16]}... (changed or damaged since)"
            )
        self._keras, self._keras_path = None, path / KERAS_FILE

    def _load_keras(self, file: Path):
        tensorflow()
        import keras

        signed_log_cls()
        try:
            model = keras.saving.load_model(file, compile=False)
        except Exception as exc:  # corrupt files raise anything from zip/h5/keras
            raise ModelLoadError(f"loading {file}: {exc!r}") from exc
        d = model.inputs[0].shape[-1]
        if d != len(self.feature_names):
            raise ModelLoadError(
                f"loading {file}: expected {len(self.feature_names)} inputs, got {d}"
            )
        return model

    def _params_dict(self) -> dict[str, Any]:
        d = asdict(self.params)
        d["hidden"] = list(self.params.hidden)
        return d

    @classmethod
    def _from_params(cls, params: dict[str, Any]) -> MLPModel:
        return cls(MLPParams(**params))
