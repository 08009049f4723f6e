"""The numerical parts of tilt-corrected bright field (parallax): which detector pixels are
bright field, how their images are shifted, how the shifts are measured and fitted.

Conventions (docs/analyses.md, "parallax"): a bright-field pixel at offset ``u = (uy, ux)``
detector pixels from the disk's centre sees the object displaced by ``d = (dy, dx)`` scan
pixels: its virtual image ``I_u(y, x) ≈ B(y - dy, x - dx)`` for an aligned image ``B``. For a
defocused probe ``d = A u`` with ``A = D R(θ) F``: ``D`` the defocus in scan pixels per detector
pixel (``Δf θ_px / step``), ``R(θ)`` the rotation from detector to scan axes as the ``com``
analysis rotates (``x' = x cos θ - y sin θ``, ``y' = x sin θ + y cos θ``), ``F`` the optional
flip of the detector's y axis. Any 2 x 2 ``A`` is ``D R(θ) + astigmatism``, the astigmatism
``[[a1, a2], [a2, -a1]]``.
"""

from __future__ import annotations

import math

import numpy as np

#: The growing disks (fractions of the radius) the measured shifts are fitted on in turn: near
#: the centre the shifts are small enough to be found against the plain bright-field image.
FIT_STAGES = (0.35, 0.5, 0.65, 0.8)
#: The fewest pixels a fit uses (the nearest to the centre, when a stage's disk holds fewer).
FIT_MIN_PIXELS = 5


def bright_field_pixels(
    sig_shape: tuple[int, int], *, cy: float, cx: float, r: float
) -> tuple[np.ndarray, np.ndarray]:
    """The detector pixels whose centres lie within ``r`` of ``(cy, cx)``: their flat indices
    (int64 ``(m,)``, row-major) and offsets ``u = (row - cy, col - cx)`` (float64 ``(m, 2)``)."""
    rows, cols = np.indices(sig_shape, dtype=np.float64)
    inside = (rows - cy) ** 2 + (cols - cx) ** 2 <= r * r
    offsets = np.stack([rows[inside] - cy, cols[inside] - cx], axis=1)
    return np.flatnonzero(inside), offsets


def shift_matrix(*, defocus: float, rotation_deg: float, flip_y: bool) -> np.ndarray:
    """``A = D R(θ) F`` acting on ``(uy, ux)``: the shifts of a defocused probe (float64 2 x 2)."""
    cos, sin = math.cos(math.radians(rotation_deg)), math.sin(math.radians(rotation_deg))
    rotation = np.array([[cos, sin], [-sin, cos]])  # (y, x) -> (y', x')
    flip = np.diag([-1.0 if flip_y else 1.0, 1.0])
    return defocus * rotation @ flip


def defocus_in_pixels(defocus_nm: float, *, scan_step: float, detector_pixel: float) -> float:
    """``D = Δf θ_px / step``: the parallax in scan pixels per detector pixel of a defocus
    ``defocus_nm`` with a ``scan_step`` in nm and a ``detector_pixel`` in mrad."""
    return defocus_nm * detector_pixel * 1e-3 / scan_step


def aberrations(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """``matrix`` as ``D R(θ) + [[a1, a2], [a2, -a1]]``: ``defocus`` ``[D]``, ``rotation``
    ``[θ]`` in degrees, ``-90 < θ <= 90`` (``D R(θ + 180°) = -D R(θ)``: the sign goes to ``D``),
    ``astigmatism`` ``[a1, a2]``; float64 arrays."""
    (ayy, ayx), (axy, axx) = matrix
    along, across = (ayy + axx) / 2, (ayx - axy) / 2  # D cos θ, D sin θ
    defocus, theta = math.hypot(along, across), math.degrees(math.atan2(across, along))
    if theta > 90:
        defocus, theta = -defocus, theta - 180
    elif theta <= -90:
        defocus, theta = -defocus, theta + 180
    return {
        "defocus": np.array([defocus]),
        "rotation": np.array([theta]),
        "astigmatism": np.array([(ayy - axx) / 2, (ayx + axy) / 2]),
    }


def shifted_mean(images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """``mean_k I_k(y + dy_k, x + dx_k)`` over the stack ``images`` ``(m, ny, nx)`` with
    ``shifts`` ``(m, 2)`` rounded to whole scan pixels, periodic at the scan's edges (float64
    ``(ny, nx)``)."""
    whole = np.rint(shifts).astype(np.int64)
    out = np.zeros(images.shape[1:], dtype=np.float64)
    for image, (dy, dx) in zip(images, whole, strict=True):
        out += np.roll(image, (-dy, -dx), axis=(0, 1))
    return out / max(len(images), 1)


def centred_shifted_mean(
    values: np.ndarray, shifts: np.ndarray, grid: tuple[int, int]
) -> np.ndarray:
    """The parallax image from the rows ``values`` ``(ny * nx, m)`` (one frame's bright-field
    pixels a row, NaN rows not read): per frame the values less their mean, pixel ``k``'s
    moved back by ``shifts[k]`` rounded to whole scan pixels (periodic), summed, divided by
    ``m``; what :func:`shifted_mean` gives for the centred images, in one compiled pass over
    the rows (float64 ``grid``)."""
    from apps.core.parallax_jit import scatter_centred

    out = np.zeros(grid, dtype=np.float64)
    whole = np.ascontiguousarray(np.rint(shifts).astype(np.int64))
    scatter_centred(np.ascontiguousarray(values, dtype=np.float64), grid[0], grid[1], whole, out)
    return out / max(values.shape[1], 1)


def measure_shifts(spectra: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The shift ``d`` of each image against ``reference`` ``(ny, nx)``, ``I_k(y) ≈
    reference(y - d_k)``, from the images' ``spectra`` (``numpy.fft.rfft2`` of ``(m, ny,
    nx)``): the periodic cross-correlation's peak, refined by a parabola through it and its
    neighbours along each axis (float64 ``(m, 2)``, each in ``(-n/2, n/2]``)."""
    product = spectra * np.conj(np.fft.rfft2(reference))
    correlation = np.fft.irfft2(product, s=reference.shape)
    m, ny, nx = correlation.shape
    flat = correlation.reshape(m, -1).argmax(axis=1)
    peak = np.stack(np.unravel_index(flat, (ny, nx)), axis=1)
    k = np.arange(m)
    centre = correlation[k, peak[:, 0], peak[:, 1]]
    out = peak.astype(np.float64)
    for axis, n in enumerate((ny, nx)):
        before, after = peak.copy(), peak.copy()
        before[:, axis] = (peak[:, axis] - 1) % n
        after[:, axis] = (peak[:, axis] + 1) % n
        low = correlation[k, before[:, 0], before[:, 1]]
        high = correlation[k, after[:, 0], after[:, 1]]
        curvature = low - 2 * centre + high
        safe = np.where(curvature < 0, curvature, -1.0)
        out[:, axis] += np.where(curvature < 0, 0.5 * (low - high) / safe, 0.0)
        out[:, axis] = np.where(out[:, axis] > n / 2, out[:, axis] - n, out[:, axis])
    return out


def fit_shift_matrix(images: np.ndarray, offsets: np.ndarray, r: float) -> np.ndarray:
    """The 2 x 2 ``A`` of ``d = A u`` fitted (least squares) to the shifts measured in
    ``images`` ``(m, ny, nx)`` of the pixels at ``offsets`` ``(m, 2)``: on the growing disks
    :data:`FIT_STAGES` in turn, each image measured against the mean of the stage's images
    aligned by the previous stage's ``A`` (the first: not aligned)."""
    distance = np.hypot(offsets[:, 0], offsets[:, 1])
    fewest = np.sort(distance)[min(FIT_MIN_PIXELS, len(distance)) - 1]
    widest = distance <= max(FIT_STAGES[-1] * r, fewest)
    images, offsets, distance = images[widest], offsets[widest], distance[widest]
    spectra = np.fft.rfft2(images)  # once: every stage correlates a subset of them
    matrix = np.zeros((2, 2))
    for fraction in FIT_STAGES:
        chosen = distance <= max(fraction * r, fewest)
        u = offsets[chosen]
        reference = shifted_mean(images[chosen], u @ matrix.T)
        measured = measure_shifts(spectra[chosen], reference)
        matrix = np.linalg.lstsq(u, measured, rcond=None)[0].T
    return matrix


def phase_flip_kernel(
    grid: tuple[int, int], *, defocus_nm: float, scan_step: float, wavelength_nm: float
) -> np.ndarray:
    """``sign(sin χ(q))`` on the scan's Fourier grid (``numpy.fft`` order, float64 ``grid``):
    the sign of tcBF's transfer, ``χ(q) = -π λ Δf q²`` (abTEM's ``C10 = -Δf``), ``q`` from
    ``fftfreq(n, scan_step)`` in 1/nm; 0 on the Nyquist row and column of an even grid (as
    libertem-parallax suppresses them)."""
    qy, qx = np.meshgrid(*(np.fft.fftfreq(n, scan_step) for n in grid), indexing="ij")
    kernel = np.sign(np.sin(-np.pi * wavelength_nm * defocus_nm * (qy**2 + qx**2)))
    for axis, n in enumerate(grid):
        if n % 2 == 0:
            kernel[(slice(None),) * axis + (n // 2,)] = 0.0
    return kernel


def phase_flipped(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``image`` (periodic) with its Fourier coefficients multiplied by ``kernel``: the
    contrast the defocus reversed turned back (float64)."""
    return np.fft.ifft2(np.fft.fft2(image) * kernel).real
