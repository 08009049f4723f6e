"""``manage.py live merlin`` on generated Merlin acquisitions of every counter depth and pixel
type the detector writes, replayed by LiberTEM-live's simulator: the results equal those of
``manage.py analyze`` on the same ``.mib`` file bit for bit, and the recording holds the
source frames byte for byte (RAW: the decoded counts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from apps.core.io import open_dataset
from tests.commands.test_live_command import live
from tests.merlin_files import write_hdr, write_mib
from tests.simulators import Simulators

#: (pixel type, counter depth, chips, frame side): what a Merlin writes
CASES = {
    "12-bit": ("U16", 12, 1, 256),
    "6-bit": ("U08", 6, 1, 256),
    "24-bit": ("U32", 24, 1, 256),
    "quad 12-bit": ("U16", 12, 4, 512),
    "quad 24-bit": ("U32", 24, 4, 512),
    "RAW 1-bit": ("R64", 1, 1, 256),
    "RAW 6-bit": ("R64", 6, 1, 256),
}
# RAW 24-bit is not among them: LiberTEM (and its simulator) reads such a frame header's
# width as that of two 12-bit images side by side (half the frame's bytes of ours).
NAV = (2, 3)


def generated(folder: Path, kind: str, depth: int, chips: int, side: int) -> np.ndarray:
    """A ``NAV`` scan of diffraction-like frames (a bright disk on a dim ring) written as
    ``scan.hdr`` + ``scan.mib``; the counts use the whole range of ``depth`` bits."""
    rng = np.random.default_rng(depth * 10 + chips)
    top = (1 << depth) - 1
    yy, xx = np.indices((side, side))
    # the disk off the centre the analyses are given: centres of mass well away from 0
    r = np.hypot(yy - side * 0.55, xx - side * 0.45)
    mean = np.where(r < side / 8, top * 0.6, np.where(r < side / 3, top * 0.05, top * 0.01))
    frames = np.minimum(rng.poisson(mean, size=(np.prod(NAV), side, side)), top)
    frames[:, 3, 5] = top  # a saturated pixel
    dtype = np.uint8 if depth <= 6 else np.uint16 if depth <= 12 else np.uint32
    frames = frames.astype(dtype)
    layout = "2x2" if chips == 4 else "1x1"
    header = 768 if chips == 4 else 384
    write_mib(
        folder / "scan.mib",
        frames,
        kind=kind,
        depth=depth,
        chips=chips,
        layout=layout,
        header_bytes=header,
    )
    write_hdr(folder / "scan.hdr", frames.shape[0], NAV[1], depth=depth)
    return frames


def same(got: np.ndarray, want: np.ndarray, *, exact: bool, scale: float, what: str) -> None:
    """Bit for bit; for 24-bit counts within the numerical contract (float32 sums of values
    up to 2**24 round differently when the live path's native integers and the file's
    big-endian ones are summed in another order), relative to ``scale``."""
    if exact:
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        scale = max(scale, float(np.nanmax(np.abs(want))), 1e-30)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * scale, err_msg=what)


@pytest.mark.parametrize("case", list(CASES))
def test_a_generated_acquisition_arrives_as_analyze_reads_the_file(
    simulators: Simulators,
    tmp_path: Path,
    settings: object,
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    kind, depth, chips, side = CASES[case]
    settings.DATA_ROOTS = [str(tmp_path)]  # type: ignore[attr-defined]
    frames = generated(tmp_path, kind, depth, chips, side)
    c = side // 2
    ring = ["virtual", "--param", "shape=ring", "--param", f"cx={c}", "--param", f"cy={c}"]
    ring += ["--param", f"ri={side // 8}", "--param", f"ro={side // 3}"]
    com = ["com", "--param", f"cx={c}", "--param", f"cy={c}", "--param", f"r={side // 6}"]
    sim = simulators.merlin(tmp_path / "scan.hdr", nav_shape=NAV)
    line = live(
        sim,
        "--nav-shape", *map(str, NAV),
        "--analysis", "sum", "--analysis", *ring, "--analysis", *com,
        "--record", "rec", "--out", str(tmp_path / "live.npz"),
        capsys=capsys,
    )  # fmt: skip
    assert line["state"] == "complete", line
    assert (line["frames"], line["lost_frames"]) == (frames.shape[0], 0)

    hdr = str(tmp_path / "scan.hdr")
    with np.load(tmp_path / "live.npz") as got:
        for name, args in (("sum", ["sum"]), ("virtual", ring), ("com", com)):
            out = tmp_path / f"{name}.npz"
            call_command("analyze", hdr, "--analysis", *args, "--out", str(out), "--quiet")
            with np.load(out) as want:
                # the centre-of-mass field's scale for the quantities derived from it
                # (divergence, curl: differences of neighbours, near 0 here)
                coords = [float(np.nanmax(np.abs(want[k]))) for k in ("x", "y") if k in want]
                field = max(coords, default=0.0)
                for key in want.files:
                    if key == "guess" and depth == 24:
                        continue  # a rotation fitted to a uniform 2 x 3 field: ill-posed
                    same(got[f"{name}.{key}"], want[key], exact=depth < 24, scale=field, what=key)
        np.testing.assert_array_equal(got["sum.sum"], frames.sum(axis=0, dtype=np.float64))

    recorded = open_dataset(line["record"])
    assert (recorded.nav_shape, recorded.sig_shape) == (NAV, (side, side))
    raw = (tmp_path / "rec" / "frames.raw").read_bytes()
    if kind == "R64":  # stored decoded, in the machine's order
        assert raw == frames.astype(recorded.dtype).tobytes()
    else:  # the detector's own bytes: big-endian, as in the .mib
        assert recorded.dtype == np.dtype(f">u{frames.itemsize}")
        assert raw == frames.astype(recorded.dtype).tobytes()
    meta = recorded.extra["metadata"]
    assert (meta["pixel_type"], meta["counter_depth"], meta["chips"]) == (kind, depth, chips)
