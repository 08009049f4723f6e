"""The header of an ``.npy`` file, read without touching the data."""

from __future__ import annotations

from typing import BinaryIO

import numpy as np


def read_npy_header(f: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` from an open ``.npy`` file positioned at its start;
    leaves ``f`` at the first data byte. ValueError for a file that is not ``.npy``."""
    version = np.lib.format.read_magic(f)
    # Public numpy API only: the private _read_array_header moved in numpy 2.
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    return np.lib.format.read_array_header_2_0(f)
