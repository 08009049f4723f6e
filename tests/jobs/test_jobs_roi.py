from __future__ import annotations

import numpy as np
import pytest

from apps.core.errors import ParameterError
from apps.jobs.roi import roi_array

NAV = (4, 5)


def test_it_returns_none_without_roi():
    assert roi_array(None, NAV) is None


def test_it_builds_a_rect():
    arr = roi_array({"shape": "rect", "y": 1, "x": 2, "height": 2, "width": 3}, NAV)
    expected = np.zeros(NAV, bool)
    expected[1:3, 2:5] = True
    np.testing.assert_array_equal(arr, expected)


def test_it_builds_a_disk():
    arr = roi_array({"shape": "disk", "cy": 2, "cx": 2, "r": 1}, NAV)
    yy, xx = np.mgrid[:4, :5]
    np.testing.assert_array_equal(arr, (yy - 2) ** 2 + (xx - 2) ** 2 <= 1)
    assert arr.sum() == 5


def test_it_takes_a_mask():
    mask = [[(y + x) % 2 == 0 for x in range(5)] for y in range(4)]
    np.testing.assert_array_equal(roi_array({"mask": mask}, NAV), np.array(mask))


def test_it_treats_a_line_scan_as_one_row():
    arr = roi_array({"shape": "rect", "y": 0, "x": 3, "height": 1, "width": 2}, (6,))
    np.testing.assert_array_equal(arr, [False, False, False, True, True, False])


@pytest.mark.parametrize(
    "roi",
    [
        {"shape": "rect", "y": 3, "x": 0, "height": 2, "width": 1},  # past the last row
        {"shape": "rect", "y": -1, "x": 0, "height": 1, "width": 1},
        {"shape": "rect", "y": 0, "x": 0, "height": 0, "width": 1},
        {"shape": "rect", "y": 0.5, "x": 0, "height": 1, "width": 1},
        {"shape": "rect", "y": 0, "x": 0, "height": 1},
        {"shape": "rect", "y": "0", "x": 0, "height": 1, "width": 1},
        {"shape": "rect", "y": True, "x": 0, "height": 1, "width": 1},
        {"shape": "rect", "y": 0, "x": 0, "height": 1, "width": 1, "r": 3},
        {"shape": "disk", "cy": 9, "cx": 1, "r": 1},
        {"shape": "disk", "cy": 1, "cx": 1, "r": 0},
        {"shape": "disk", "cy": float("nan"), "cx": 1, "r": 1},
        {"shape": "disk", "cy": 1, "cx": 1, "r": float("inf")},
        {"shape": "triangle"},
        {"mask": [[True] * 5] * 3},
        {"mask": [[True] * 5, [True] * 4, [True] * 5, [True] * 5]},
        {"mask": [[1] * 5] * 4},
        {"mask": [[False] * 5] * 4},
        {"mask": [[True] * 5] * 4, "shape": "rect"},
        [1, 2],
        "everything",
    ],
)
def test_it_refuses_bad_rois(roi):
    with pytest.raises(ParameterError) as info:
        roi_array(roi, NAV)
    assert info.value.field == "roi"
