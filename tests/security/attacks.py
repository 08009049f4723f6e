"""The planted files of the attack suite: each lies inside the data folder and names a secret
outside it (issue 19, point 1). Every file is a few KiB.

The secret (``outside/``) holds a canary: bytes with a unique marker string. An attack works if
reading the planted dataset yields those bytes; the suite shows each one does without the check
(so the file is a real attack) and that the portal refuses it everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from apps.core.io.raw import write_sidecar
from apps.core.io.storage import NodeStorage

MARKER = b"LT-CANARY-19-7f3a91c2"
NAV = (2, 2)
SIG = (8, 8)
FRAMES_BYTES = 4 * 8 * 8  # uint8 frames of the planted datasets


def canary(nbytes: int) -> bytes:
    return (MARKER * (nbytes // len(MARKER) + 1))[:nbytes]


def canary_frames(shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(canary(int(np.prod(shape))), dtype=np.uint8).reshape(shape)


@dataclass
class Attack:
    """A planted dataset: what registration is asked, and what its catalogue row would be."""

    name: str
    path: Path
    format: str
    params: dict[str, Any]
    words: list[str]  # what the refusal must name besides the planted file (the link)
    named: Path  # the file the refusal must name
    nav_shape: tuple[int, ...] = NAV
    sig_shape: tuple[int, int] = SIG
    dtype: str = "|u1"
    # Opens the dataset the way the portal did before the check; returns every byte it reads.
    unchecked: Callable[[], bytes] = field(default=lambda: b"")
    field: str = "path"


@dataclass
class Places:
    data: Path  # the data folder
    outside: Path  # the secret, next to it
    nodes: Path  # a node storage root (DATA_NODES), outside the data folder


def plant_secret(outside: Path) -> None:
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.bin").write_bytes(canary(4096))
    # A sidecar partition must have the size of its frames: an attacker picks such a file.
    (outside / "secret-part.raw").write_bytes(canary(FRAMES_BYTES))
    with h5py.File(outside / "secret.h5", "w") as f:
        f["data"] = canary_frames((*NAV, *SIG))
        f["entry/data/data"] = canary_frames((2, *SIG))
    np.save(outside / "secret-map.npy", canary_frames(SIG).astype(np.float64))
    (outside / "secret-empad.raw").write_bytes(canary(130 * 128 * 4))


def _read_all(open_it: Callable[[], Any]) -> Callable[[], bytes]:
    def read() -> bytes:
        ds = open_it()
        out = []
        for part in ds.partitions():
            part.locate(None)
            out.append(np.ascontiguousarray(part.read(part.start, part.stop)).tobytes())
            part.close()
        return b"".join(out)

    return read


def _open(*args: Any, **kwargs: Any) -> Callable[[], bytes]:
    from apps.core.io import open_dataset

    return _read_all(lambda: open_dataset(*args, **kwargs))


def _hdf5_attack(name: str, path: Path, dataset: str, words: list[str]) -> Attack:
    """The planted HDF5 file ``path`` whose ``dataset`` leads out; the refusal names ``words``."""
    params = {"dataset": dataset}
    return Attack(
        name,
        path,
        "hdf5",
        params,
        words,
        path,
        unchecked=_open(str(path), format="hdf5", params=params),
    )


def h5_external_storage(p: Places) -> Attack:
    path = p.data / "external-storage.h5"
    secret = str(p.outside / "secret.bin")
    with h5py.File(path, "w") as f:
        f.create_dataset(
            "data", shape=(*NAV, *SIG), dtype="u1", external=[(secret, 0, FRAMES_BYTES)]
        )
    return _hdf5_attack(
        "hdf5-external-storage", path, "/data", ["/data", "external raw storage", secret]
    )


def h5_external_link(p: Places, *, relative: bool) -> Attack:
    name = "relative" if relative else "absolute"
    path = p.data / f"external-link-{name}.h5"
    secret = p.outside / "secret.h5"
    target = os.path.relpath(secret, p.data) if relative else str(secret)
    with h5py.File(path, "w") as f:
        f["scan"] = h5py.ExternalLink(target, "/data")
    return _hdf5_attack(
        f"hdf5-external-link-{name}", path, "/scan", ["external link /scan", target]
    )


def h5_virtual(p: Places) -> Attack:
    path = p.data / "virtual.h5"
    secret = str(p.outside / "secret.h5")
    layout = h5py.VirtualLayout(shape=(*NAV, *SIG), dtype="u1")
    layout[:] = h5py.VirtualSource(secret, "data", shape=(*NAV, *SIG))
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("data", layout)
    return _hdf5_attack("hdf5-virtual-dataset", path, "/data", ["virtual dataset /data", secret])


def arina_second_link(p: Places) -> Attack:
    folder = p.data / "arina"
    folder.mkdir()
    with h5py.File(folder / "scan_data_000001.h5", "w") as f:
        f["entry/data/data"] = np.zeros((2, *SIG), dtype="u1")
    path = folder / "scan_master.h5"
    outside = os.path.relpath(p.outside / "secret.h5", folder)
    with h5py.File(path, "w") as f:
        f["entry/data/data_000001"] = h5py.ExternalLink("scan_data_000001.h5", "/entry/data/data")
        f["entry/data/data_000002"] = h5py.ExternalLink(outside, "/entry/data/data")
    params = {"nav_shape": list(NAV)}
    return Attack(
        "arina-later-data-link",
        path,
        "arina",
        params,
        ["external link /entry/data/data_000002", outside],
        path,
        unchecked=_open(str(path), format="arina", params=params),
    )


def _node_read(root: str, rel: str) -> Callable[[], bytes]:
    # What the reader did with the sidecar's own node_roots: read rel in that root.
    return lambda: NodeStorage("node-a", root).read(rel, 0, FRAMES_BYTES)


def _node_sidecar(path: Path, root: str, rel: str) -> None:
    doc = {
        "dtype": "|u1",
        "nav_shape": list(NAV),
        "sig_shape": list(SIG),
        "node_roots": {"node-a": root},
        "partitions": [{"path": rel, "start": 0, "stop": 4, "nodes": ["node-a"]}],
    }
    write_sidecar(path, doc)


def sidecar_node_roots_symlink(p: Places) -> Attack:
    root = p.data / "my-node"
    root.mkdir()
    (root / "data").symlink_to(p.outside / "secret.bin")
    path = p.data / "node-roots.json"
    _node_sidecar(path, str(root), "data")
    return Attack(
        "sidecar-node-roots-symlink",
        path,
        "raw",
        {},
        ["node_roots", "DATA_NODES"],
        path,
        unchecked=_node_read(str(root), "data"),
    )


def sidecar_node_roots_cwd(p: Places) -> Attack:
    # "." is the process's working directory (the suite runs in outside/): before the fix, the
    # registration check resolved the partition path there, and so did the reader.
    path = p.data / "node-roots-cwd.json"
    _node_sidecar(path, ".", "secret.bin")
    return Attack(
        "sidecar-node-roots-working-directory",
        path,
        "raw",
        {},
        ["node_roots", "DATA_NODES"],
        path,
        unchecked=_node_read(".", "secret.bin"),
    )


def sidecar_partition_symlink(p: Places) -> Attack:
    folder = p.data / "raw"
    folder.mkdir()
    (folder / "part-0.raw").symlink_to(p.outside / "secret-part.raw")
    path = folder / "scan.json"
    doc = {
        "dtype": "|u1",
        "nav_shape": list(NAV),
        "sig_shape": list(SIG),
        "partitions": [{"path": "part-0.raw", "start": 0, "stop": 4}],
    }
    write_sidecar(path, doc)
    return Attack(
        "sidecar-partition-symlink",
        path,
        "raw",
        {},
        ["partition 0 (frames 0-3) leads to"],
        path,
        unchecked=_open(str(path)),
    )


def empad_raw_symlink(p: Places) -> Attack:
    folder = p.data / "empad"
    folder.mkdir()
    (folder / "scan.raw").symlink_to(p.outside / "secret-empad.raw")
    path = folder / "scan.xml"
    path.write_text(
        '<root><raw_file filename="scan.raw"/><scan_parameters mode="acquire">'
        "<scan_resolution_x>1</scan_resolution_x><scan_resolution_y>1</scan_resolution_y>"
        "</scan_parameters></root>"
    )
    return Attack(
        "empad-raw-file-symlink",
        path,
        "empad",
        {},
        ["<raw_file>", str(folder / "scan.raw")],
        path,
        nav_shape=(1, 1),
        sig_shape=(128, 128),
        dtype="<f4",
        unchecked=_open(str(path)),
    )


def correction_map_symlink(p: Places) -> Attack:
    path = p.data / "corrected.npy"
    np.save(path, np.ones((*NAV, *SIG), dtype="u1"))
    (p.data / "dark.npy").symlink_to(p.outside / "secret-map.npy")
    params = {"dark": "dark.npy"}

    def unchecked() -> bytes:
        from apps.core.io import open_dataset

        ds = open_dataset(str(path), params=params)
        return ds.corrections.dark.astype(np.uint8).tobytes()

    return Attack(
        "correction-map-symlink",
        path,
        "npy",
        params,
        ["params.dark", str(p.data / "dark.npy")],
        p.data / "dark.npy",
        dtype="<f4",
        unchecked=unchecked,
        field="params",
    )


BUILDERS: dict[str, Callable[[Places], Attack]] = {
    "hdf5-external-storage": h5_external_storage,
    "hdf5-external-link-absolute": lambda p: h5_external_link(p, relative=False),
    "hdf5-external-link-relative": lambda p: h5_external_link(p, relative=True),
    "hdf5-virtual-dataset": h5_virtual,
    "arina-later-data-link": arina_second_link,
    "sidecar-node-roots-symlink": sidecar_node_roots_symlink,
    "sidecar-node-roots-working-directory": sidecar_node_roots_cwd,
    "sidecar-partition-symlink": sidecar_partition_symlink,
    "empad-raw-file-symlink": empad_raw_symlink,
    "correction-map-symlink": correction_map_symlink,
}


def leaked(body: bytes | str) -> bool:
    """True if ``body`` holds the canary's marker (it is plain ASCII: JSON keeps it as is)."""
    raw = body if isinstance(body, bytes) else body.encode()
    return MARKER in raw
