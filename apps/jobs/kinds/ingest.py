"""The ingest kind: write a dataset to the data nodes, then repoint the catalogue at the copy.

The dataset is ``ingesting`` while the body runs; the finish points the row at the new sidecar
(format raw, status ready, placement in ``partitions``) in the transaction that finishes the
job. On failure or cancellation the source is untouched, no sidecar exists and the dataset is
``error`` with the reason; running the ingestion again keeps the partitions already written.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction

from apps.core.errors import CoreError
from apps.core.ingest import IngestError, ingest, plan_folder
from apps.core.ingest_nodes import free_bytes, on_nodes
from apps.core.io import open_dataset
from apps.core.io.base import DataSet
from apps.datasets.identity import identity_of
from apps.datasets.models import Dataset
from apps.datasets.paths import in_ingest_root, owner_files, read_scope
from apps.datasets.selectors import is_ingested
from apps.datasets.services import dataset_open_for_job
from apps.jobs.copies import copies_of, copies_remove
from apps.jobs.dbretry import with_db_retry
from apps.jobs.executor import get_executor
from apps.jobs.kinds.base import Ending, JobKind, JobRun, Outcome
from apps.jobs.kinds.thumbnail import thumbnails_after_ingest
from apps.jobs.models import Job
from apps.results.models import Result

logger = logging.getLogger(__name__)


def ingest_body(run: JobRun) -> Outcome:
    job = run.job
    with_db_retry(
        lambda: Dataset.objects.filter(pk=job.dataset_id).update(
            status=Dataset.Status.INGESTING, error=""
        ),
        what=f"ingest job {job.pk}: start",
    )
    source = with_db_retry(lambda: ingest_source(job.dataset), what=f"ingest job {job.pk}: open")
    params = job.params
    folder = plan_folder(source, params.get("partitions"), f"ds-{job.dataset_id}")
    root = Path(settings.INGEST_ROOT).resolve()
    root.mkdir(parents=True, exist_ok=True)
    sidecar = root / f"{folder}.json"
    logger.info("ingest job %s: %s -> %s on %s", job.pk, source, sidecar, params.get("nodes"))
    roots = {str(k): str(v) for k, v in settings.DATA_NODES.items()}
    client = getattr(get_executor(), "client", None)
    targets = list(params.get("nodes") or roots)
    free = None
    if params.get("placement") == "free-space":
        free = nodes_free_bytes(targets, roots, client)
        logger.info("ingest job %s: free bytes per node %s", job.pk, free)
    doc = ingest(
        source,
        sidecar=str(sidecar),
        roots=roots,
        folder=folder,
        partitions=params.get("partitions"),
        nodes=targets,
        replicas=int(params.get("replicas") or 1),
        free=free,
        client=client,
        on_progress=run.progress(frame_bytes=source.frame_bytes),
        should_stop=run.should_stop,
    )
    scope = with_db_retry(
        lambda: read_scope(str(sidecar), job.owner), what=f"ingest job {job.pk}: reopen"
    )
    written = open_dataset(str(sidecar), allowed=scope.allowed, node_roots=scope.node_roots)
    placement = [p.describe() for p in written.partitions()]
    records = _records(doc)
    copies = sum(len(p["written"]) for p in doc["partitions"])
    logger.info("ingest job %s: %s copies written to %s", job.pk, copies, sidecar)
    return Outcome(
        frames=job.frames_total,
        nbytes=sum(r["nbytes"] for r in records),
        partitions=records,
        payload=(str(sidecar), placement, identity_of(written)),
    )


def ingest_source(dataset: Dataset) -> DataSet:
    """What an ingestion reads: the dataset's file; for a dataset ingested before, the source
    its sidecar records (a new layout is written from the source, never from the copies on
    other nodes, which a node does not read). Checked against the owner's folders as at
    registration, and it must still hold the recorded shape and dtype."""
    if not is_ingested(dataset):
        return dataset_open_for_job(dataset)
    recorded = dict(json.loads(Path(dataset.path).read_text()).get("source") or {})
    path, fmt = recorded.pop("path", None), recorded.pop("format", None)
    if not path:
        raise IngestError(f"{dataset.path} records no source to ingest again from.")
    try:
        ds = open_dataset(
            str(path), format=fmt, params=recorded, allowed=owner_files(str(path), dataset.owner)
        )
    except (OSError, ValueError, CoreError) as exc:
        raise IngestError(
            f"the source {path} of {dataset.name} cannot be read again: {exc}"
        ) from exc
    found = (list(ds.nav_shape), list(ds.sig_shape), ds.dtype.str)
    recorded = (list(dataset.nav_shape), list(dataset.sig_shape), dataset.dtype)
    same_values = ds.dtype.newbyteorder("=") == np.dtype(dataset.dtype).newbyteorder("=")
    if found[:2] != recorded[:2] or not same_values:  # byte order: the reader's, not the file's
        raise IngestError(
            f"the source {path} of {dataset.name} changed since it was ingested: it holds "
            f"nav_shape {found[0]}, sig_shape {found[1]}, dtype {found[2]} now."
        )
    return ds


def nodes_free_bytes(nodes: list[str], roots: dict[str, str], client: Any) -> dict[str, int]:
    """Free bytes of each node's storage, measured on the node; IngestError naming the nodes
    that could not say."""
    answers = on_nodes(free_bytes, [(n, (n, roots[n])) for n in nodes], client)
    failed = [why for _, why in answers if why]
    if failed:
        raise IngestError(f"free-space placement: {'; '.join(failed)}.")
    return {n: int(value) for n, (value, _) in zip(nodes, answers, strict=True)}


def ingest_finish(job: Job, ending: Ending) -> list[Result]:
    before = Dataset.objects.filter(pk=job.dataset_id).values_list("path", flat=True).first()
    again = before is not None and in_ingest_root(before)
    if ending.status == Job.Status.FINISHED and ending.outcome is not None:
        sidecar, placement, identity = ending.outcome.payload
        if again:
            # the old layout's copies go once the catalogue points at the new one
            old = copies_of(before)
            transaction.on_commit(lambda: _old_layout_remove(job, before, sidecar, old))
        Dataset.objects.filter(pk=job.dataset_id).update(
            path=sidecar,
            format="raw",
            params={},
            partitions=placement,
            identity=identity,
            status=Dataset.Status.READY,
            error="",
        )
        thumbnails_after_ingest(job.dataset_id)
        return []
    if ending.outcome is not None and ending.outcome.payload[0] != before:
        # Cancelled after the copies were written: no sidecar outlives the job (the partition
        # files stay, and running the ingestion again keeps them).
        Path(ending.outcome.payload[0]).unlink(missing_ok=True)
    if again:
        # Ingesting again failed: the earlier copies are whole and stay in use.
        Dataset.objects.filter(pk=job.dataset_id, status=Dataset.Status.INGESTING).update(
            status=Dataset.Status.READY,
            error=f"Ingesting again {ending.status}: {ending.error.rstrip('.')}. The earlier "
            "copies are still used.",
        )
        return []
    Dataset.objects.filter(pk=job.dataset_id, status=Dataset.Status.INGESTING).update(
        status=Dataset.Status.ERROR,
        error=f"Ingestion {ending.status}: {ending.error.rstrip('.')}. Run it again to finish it.",
    )
    return []


def _old_layout_remove(job: Job, old_sidecar: str, new_sidecar: str, old: list[Any]) -> None:
    """Remove the copies of the layout an ingestion replaced that the new one does not use.

    After the finish committed: a failure here is logged, the new layout stands."""
    try:
        kept = {(c.node, c.rel) for c in copies_of(new_sidecar)}
        problems = copies_remove([c for c in old if (c.node, c.rel) not in kept])
    except Exception:
        logger.exception("ingest job %s: the old layout's copies were not removed", job.pk)
        return
    if old_sidecar != new_sidecar:
        Path(old_sidecar).unlink(missing_ok=True)
    if problems:
        logger.warning("ingest job %s: old copies not removed: %s", job.pk, "; ".join(problems))


def _records(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per partition copy: the node that wrote (or kept) it, how long that took, and whether
    this run wrote it; shown like an analysis job's partitions (``worker``, ``gbs``)."""
    parts = doc["partitions"]
    return [
        {
            "index": c["index"],
            "start": parts[c["index"]]["start"],
            "stop": parts[c["index"]]["stop"],
            "worker": c["node"],
            "written": c["written"],
            "nbytes": c["nbytes"],
            "seconds": c["seconds"],
            "sha256": c["sha256"],
        }
        for c in doc["copies"]
    ]


KIND = JobKind(name=Job.Kind.INGEST, body=ingest_body, finish=ingest_finish)
