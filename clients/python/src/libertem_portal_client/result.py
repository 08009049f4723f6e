"""The arrays of a finished job, with what they mean and how they were made."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Result(Mapping[str, np.ndarray]):
    """A finished job's results: a read-only mapping of result name to numpy array.

    ``units`` maps each name to the unit its analysis declares for the values (``"data"``:
    the detector's counts; ``"px"``: detector pixels; ...), ``provenance`` is the portal's record
    of the code that computed them, and ``job`` the job as ``GET /api/jobs/<id>/`` shows it
    (parameters, ROI, timings, partitions).
    """

    job: dict[str, Any]
    arrays: dict[str, np.ndarray]
    units: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.arrays)

    def __len__(self) -> int:
        return len(self.arrays)

    @property
    def id(self) -> int:
        return int(self.job["id"])

    @property
    def analysis(self) -> str:
        return str(self.job["analysis"])

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.job["params"])

    @property
    def roi(self) -> dict[str, Any] | None:
        return self.job["roi"]

    @property
    def provenance(self) -> dict[str, Any]:
        """The portal's record of how the arrays were made: the dataset and its files'
        identity, the analysis and its code, the parameters, ROI, engine version, git revision,
        executor and partitions; ``Portal.reproduce`` computes them again from it."""
        return dict(self.job.get("provenance") or {})

    @property
    def reused(self) -> bool:
        """Whether the portal answered from its result cache (a copy of an equal job's)."""
        return self.job.get("kind") == "reused"

    def __repr__(self) -> str:
        shapes = ", ".join(
            f"{n}: {a.shape} {a.dtype} [{self.units.get(n, '')}]" for n, a in self.arrays.items()
        )
        return f"<Result of job {self.id} ({self.analysis}): {shapes}>"
