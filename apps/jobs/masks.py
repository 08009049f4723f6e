"""Uploaded masks: validation of the .npy upload and loading for the ``masks`` analysis."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from apps.core.analyses.masks import MAX_MASKS
from apps.core.errors import ParameterError
from apps.jobs.models import Mask
from apps.results.npy import npy_loads

MASK_KINDS = {"b", "i", "u", "f"}


def mask_stack_from_upload(data: bytes, *, sig_shape: Sequence[int], filename: str) -> np.ndarray:
    """The uploaded .npy as a ``(m, sy, sx)`` stack, or ParameterError on the field ``file``."""
    sig = tuple(int(d) for d in sig_shape)
    try:
        arr = npy_loads(data)
    except ValueError as exc:
        # object arrays (pickles) land here too: allow_pickle=False refuses them
        raise ParameterError("file", f"{filename}: {exc}") from None
    except Exception as exc:  # a truncated or garbled header
        raise ParameterError("file", f"{filename}: not a readable .npy file ({exc}).") from None
    if arr.dtype.kind not in MASK_KINDS:
        raise ParameterError(
            "file", f"{filename}: dtype {arr.dtype} is not allowed; use bool, int or float."
        )
    if arr.shape == sig:
        arr = arr[np.newaxis]
    if arr.ndim != 3 or arr.shape[1:] != sig:
        raise ParameterError(
            "file",
            f"{filename}: shape {list(arr.shape)} does not match the dataset's detector; expected "
            f"{list(sig)} or [m, {sig[0]}, {sig[1]}].",
        )
    if not 1 <= arr.shape[0] <= MAX_MASKS:
        raise ParameterError("file", f"{filename}: give between 1 and {MAX_MASKS} masks.")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ParameterError("file", f"{filename}: the masks contain NaN or infinite values.")
    return _mask_dtype(arr)


def _mask_dtype(arr: np.ndarray) -> np.ndarray:
    # The Core computes in float32 unless masks are float64; keep float64 uploads as they are.
    if arr.dtype == np.float64:
        return np.ascontiguousarray(arr)
    return np.ascontiguousarray(arr, dtype=np.float32)


def mask_array(mask: Mask) -> np.ndarray:
    return npy_loads(mask.data)
