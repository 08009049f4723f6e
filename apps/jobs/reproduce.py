"""Reproducing a result from its provenance record (``POST /api/jobs/`` with ``record``).

A record names the dataset by catalogue id and by the content of its files, the analysis and
its code, the parameters, the ROI, the engine version and the partitioning the results were
merged in. Submitted again, the job computes in the same partitions (results depend only on
them, ``apps.core.runplan``), so it gives the same bytes; a record whose data, code or engine
differ from what the portal has now is refused, saying which.
"""

from __future__ import annotations

from typing import Any

from apps import core
from apps.core.analyses import ANALYSES, analysis_origin
from apps.core.errors import DataSetError, ParameterError
from apps.datasets.access import get_dataset
from apps.datasets.identity import public_identity, same_content
from apps.datasets.services import dataset_identity_current
from apps.jobs.models import Job
from apps.jobs.provenance import RECORD_VERSION
from apps.jobs.services import job_submit
from apps.web.ids import object_id

#: The keys of the code's origin a record must match.
CODE_KEYS = ("source", "version", "distribution", "sha256")


def job_reproduce(
    *, user: Any, record: Any, reuse: bool = True, replaces: Job | None = None
) -> Job:
    """Submit the job ``record`` describes, to be computed in its recorded partitions.

    ParameterError naming ``record`` if it is not a record, or its data, code or engine
    version are not the portal's now; Http404 if its dataset is not one ``user`` may see.
    """
    if not isinstance(record, dict) or record.get("record") != RECORD_VERSION:
        raise ParameterError(
            "record",
            f"must be a provenance record of layout {RECORD_VERSION}, as a finished job's "
            "provenance holds it (GET /api/jobs/<id>/).",
        )
    described = record.get("dataset")
    pk = object_id(described.get("id")) if isinstance(described, dict) else None
    if pk is None:
        raise ParameterError("record", "names no dataset: dataset.id must be a dataset's id.")
    dataset = get_dataset(user, pk)
    name = record.get("analysis")
    if not isinstance(name, str) or name not in ANALYSES:
        raise ParameterError(
            "record", f"names the analysis {name!r:.40}, which this portal does not have."
        )
    _check_code(record, name)
    _check_data(record, described, dataset)
    return job_submit(
        user=user,
        dataset=dataset,
        analysis=name,
        params=record.get("params") or {},
        roi=record.get("roi"),
        replaces=replaces,
        reuse=reuse,
        partitioning=_partitioning(record.get("partitions"), dataset.n_frames),
    )


def _check_code(record: dict[str, Any], name: str) -> None:
    engine = record.get("engine_version")
    if engine != core.ENGINE_VERSION:
        raise ParameterError(
            "record",
            f"was made by engine version {engine!r:.40}; this portal runs "
            f"{core.ENGINE_VERSION}, whose results may differ.",
        )
    origin = analysis_origin(name).as_json()
    recorded = {k: record.get(k, "") for k in CODE_KEYS if k in origin}
    current = {k: origin[k] for k in CODE_KEYS if k in origin}
    if recorded != current:
        raise ParameterError(
            "record",
            f"was made by the code {recorded}; the analysis {name} is now {current}.",
        )


def _check_data(record: dict[str, Any], described: dict[str, Any], dataset: Any) -> None:
    try:
        current = public_identity(dataset_identity_current(dataset))
    except DataSetError as exc:
        raise ParameterError("record", str(exc)) from exc
    if not same_content(described.get("identity") or {}, current):
        raise ParameterError(
            "record",
            f"dataset {dataset.name!r} (id {dataset.pk}) holds other data than when the record "
            "was made: its files differ in name, size or content hash.",
        )


def _partitioning(value: Any, n_frames: int) -> list[list[int]]:
    """The recorded ``[[start, stop], ...]``: contiguous ranges that cover the scan."""
    problem = "must be the frame ranges [[start, stop], ...] that cover the scan in order"
    if not isinstance(value, list) or not value:
        raise ParameterError("record", f"partitions {problem}.")
    ranges, expected = [], 0
    for item in value:
        ok = isinstance(item, list) and len(item) == 2
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in item)
        if not ok or item[0] != expected or item[1] <= item[0]:
            raise ParameterError("record", f"partitions {problem}; got {item!r:.40}.")
        ranges.append([item[0], item[1]])
        expected = item[1]
    if expected != n_frames:
        raise ParameterError(
            "record", f"partitions {problem}: they end at frame {expected}, not {n_frames}."
        )
    return ranges
