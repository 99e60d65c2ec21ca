"""CPU kernels (``njit`` loops over rows), defined in :mod:`kernels._bodies` next to the
bodies they run, so numba's file-keyed cache notices when a body changes; see the note there.

Unchecked: call them through the public wrappers, which validate shapes, dtypes and ranges.
"""

from kernels._bodies import (
    bin_index,
    hash_strings,
    json_field,
    normalise,
    one_hot,
    token_counts,
    window_update,
)

__all__ = [
    "bin_index",
    "hash_strings",
    "json_field",
    "normalise",
    "one_hot",
    "token_counts",
    "window_update",
]
