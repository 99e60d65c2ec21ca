"""Numba kernels (CPU ``@njit`` and CUDA ``@cuda.jit``) over NumPy/Arrow buffers, with checked
wrappers."""
