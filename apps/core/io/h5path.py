"""How a path names a dataset inside an HDF5 file (``file.h5:/entry/data``), without h5py.

Apart from :mod:`apps.core.io.hdf5` so that naming and sniffing a file imports neither h5py nor
hdf5plugin (0.04-0.05 s of CPU): ``manage.py analyze`` of an ``.npy`` or raw file needs them not.
"""

from __future__ import annotations

import os

EXTENSIONS = (".h5", ".hdf5", ".emd", ".nxs", ".hspy")


def split_h5_path(path: str) -> tuple[str, str | None]:
    """Split ``"file.h5:/entry/data"`` into ``("file.h5", "/entry/data")``.

    Splits on the last ``":/"`` only if the part before it is an existing file or has an
    HDF5 extension (``.h5 .hdf5 .emd .nxs .hspy``); otherwise returns ``(path, None)``.
    """
    head, sep, tail = str(path).rpartition(":/")
    if sep and (head.lower().endswith(EXTENSIONS) or os.path.isfile(head)):
        return head, "/" + tail
    return str(path), None
