"""Import TensorFlow lazily, once, with a bounded thread count.

TensorFlow is slow to import and grabs every core by default; callers that need it go through
:func:`tensorflow`, so merely importing :mod:`models` stays cheap and the thread limits are set
before TensorFlow's runtime starts.
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["tensorflow"]

_TF: ModuleType | None = None


def tensorflow(threads: int | None = None) -> ModuleType:
    """The ``tensorflow`` module, configured on first use with ``threads`` intra- and inter-op
    threads (default min(2, cpu count): the test machines have two shared cores)."""
    global _TF
    if _TF is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        n = threads or min(2, os.cpu_count() or 1)
        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(n)
        except RuntimeError:  # the runtime already started (someone imported tf first)
            pass
        _TF = tf
    return _TF
