"""How job pages write a read speed: three significant figures in a unit that fits."""

from __future__ import annotations

import pytest

from apps.jobs.templatetags.jobs_display import read_rate


@pytest.mark.parametrize(
    ("gbs", "text"),
    [
        (2.0, "2.00 GB/s"),
        (1.23456, "1.23 GB/s"),
        (123.4, "123 GB/s"),
        (0.5, "500 MB/s"),
        (0.0123, "12.3 MB/s"),
        (0.000004, "4.00 kB/s"),
        (0.0, ""),
        (None, ""),
        (float("nan"), ""),
    ],
)
def test_it_writes_a_read_speed_a_person_can_read(gbs, text):
    assert read_rate(gbs) == text
