"""Writes to the catalogue: registering, sharing, deleting datasets; reopening them.

Registration validates against the file before anything is saved: the Core opens the data,
and the row is written only if that succeeded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from apps.core.errors import DataSetError, ForbiddenReference
from apps.core.identity import unchanged
from apps.core.io import FORMATS, open_dataset
from apps.core.io.base import DataSet
from apps.core.io.metadata import file_metadata
from apps.datasets.access import can_change, visible_datasets
from apps.datasets.calibration import beam_values, calibration_axes
from apps.datasets.identity import identity_of
from apps.datasets.models import Dataset
from apps.datasets.notes import metadata_apply, notes_apply
from apps.datasets.paths import (
    owner_files,
    read_scope,
    resolve_for,
    split_inner,
)
from apps.datasets.search import search_refresh
from apps.datasets.signals import dataset_deleted, dataset_registered, dataset_shared

NAME_MAX = Dataset._meta.get_field("name").max_length


def dataset_register(
    *,
    owner: Any,
    name: str,
    path: str,
    format: str | None = None,
    params: dict[str, Any] | None = None,
    groups: Iterable[str] = (),
    notes: Any = "",
    tags: Any = (),
    annotations: Any = None,
) -> Dataset:
    """Detect, validate and register the dataset at ``path``; nothing is saved on error.

    The file must lie in a data folder ``owner`` may use, and must not back a dataset that
    ``owner`` may not see. The metadata the file carries is stored as detected annotations
    (``apps.core.io.metadata``); ``notes``, ``tags`` and ``annotations`` are the owner's
    (``apps.datasets.notes``). Raises ValidationError keyed by ``name``, ``path``, ``format``,
    ``params``, ``groups``, ``notes``, ``tags`` or ``annotations``.
    """
    name = _clean_name(name)
    group_rows = _groups_for(owner, groups)
    inspected = _inspected(owner=owner, path=path, format=format, params=params)
    fields, metadata = _fields(inspected), file_metadata(inspected[0])
    with transaction.atomic():
        dataset = Dataset.objects.create(
            owner=owner, name=name, status=Dataset.Status.READY, **fields
        )
        dataset.groups.set(group_rows)
        metadata_apply(dataset, metadata)
        notes_apply(dataset, notes=notes, tags=tags, annotations=annotations)
        search_refresh(dataset)
        # apps.jobs queues the thumbnails when this commits.
        dataset_registered.send(sender=Dataset, dataset=dataset)
    return dataset


def dataset_recorded(*, dataset: Dataset) -> Dataset:
    """A dataset a live session was recording (status ``recording``, its path the recording's
    sidecar) becomes ready: validated and described from its file exactly as a registration,
    inside the caller's transaction. ValidationError as :func:`dataset_register`."""
    inspected = _inspected(owner=dataset.owner, path=dataset.path, format=None, params=None)
    fields, metadata = _fields(inspected), file_metadata(inspected[0])
    with transaction.atomic():
        for name, value in fields.items():
            setattr(dataset, name, value)
        dataset.status = Dataset.Status.READY
        dataset.error = ""
        dataset.save()
        metadata_apply(dataset, metadata)
        search_refresh(dataset)
        dataset_registered.send(sender=Dataset, dataset=dataset)
    return dataset


def dataset_annotate(*, user: Any, dataset: Dataset, **changes: Any) -> Dataset:
    """Replace the ``notes``, ``tags`` or ``annotations`` of ``dataset`` (those given; None
    clears); owner or staff only. ValidationError keyed by the field."""
    if not can_change(user, dataset):
        raise PermissionDenied("Only the owner of a dataset (or staff) can change its notes.")
    with transaction.atomic():
        notes_apply(dataset, **changes)
        search_refresh(dataset)
    return dataset


def dataset_inspect(
    *, owner: Any, path: str, format: str | None = None, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Validate the data at ``path`` for ``owner`` as registration does, saving nothing.

    Returns the row's fields that come from the file: ``format``, ``path`` (resolved),
    ``params``, ``nav_shape``, ``sig_shape``, ``dtype``, ``partitions``, ``calibration``,
    ``identity`` (the files' hashes, see :mod:`apps.core.identity`).
    Raises ValidationError keyed by ``path``, ``format`` or ``params``.
    """
    return _fields(_inspected(owner=owner, path=path, format=format, params=params))


def _inspected(
    *, owner: Any, path: str, format: str | None, params: dict[str, Any] | None
) -> tuple[DataSet, list[dict[str, Any]]]:
    _check_format(format)
    params = _clean_params(params)
    ds, partitions = _open_checked(owner, path, format=format, params=params)
    _check_size(ds)
    _check_not_anothers(owner, ds, partitions)
    return ds, partitions


def _fields(inspected: tuple[DataSet, list[dict[str, Any]]]) -> dict[str, Any]:
    ds, partitions = inspected
    description = ds.describe()
    return {
        "format": description["format"],
        "path": description["path"],
        "params": description["params"],
        "nav_shape": description["nav_shape"],
        "sig_shape": description["sig_shape"],
        "dtype": description["dtype"],
        "partitions": partitions,
        "calibration": description.get("calibration", []),
        "identity": _identity(ds),
    }


def _identity(ds: DataSet) -> dict[str, Any]:
    try:
        return identity_of(ds)
    except OSError as exc:
        raise ValidationError({"path": f"{ds.path}: cannot read the data: {exc}"}) from None


def dataset_identity_current(dataset: Dataset) -> dict[str, Any]:
    """``dataset``'s identity as its files are now: the recorded one while every file has
    its recorded size and modification time (a ``stat`` each), else taken anew and saved on
    the row, hashing again. DataSetError (naming the dataset) if it cannot be opened."""
    if unchanged(dataset.identity):
        return dataset.identity
    ds = dataset_open(dataset)
    try:
        identity = identity_of(ds)
    except OSError as exc:
        raise DataSetError(
            f"Dataset {dataset.name!r} (id {dataset.pk}): its files cannot be read: {exc}"
        ) from exc
    Dataset.objects.filter(pk=dataset.pk).update(identity=identity)
    dataset.identity = identity
    return identity


def dataset_detect(*, user: Any, path: str) -> dict[str, Any]:
    """What the Core detects at ``path`` (``DataSet.describe()``), or ValidationError."""
    ds, _ = _open_checked(user, path, format=None, params={})
    return ds.describe()


def dataset_open(dataset: Dataset) -> DataSet:
    """Reopen a catalogue row with the Core; raises DataSetError naming the dataset.

    Every file the dataset refers to is checked again against the folders its owner may use
    (it may have been replaced since it was registered), and the data must still have the
    shape and dtype recorded at registration.
    """
    scope = read_scope(dataset.path, dataset.owner)
    try:
        ds = open_dataset(
            dataset.path,
            format=dataset.format,
            params=dataset.params,
            allowed=scope.allowed,
            node_roots=scope.node_roots,
        )
    except DataSetError as exc:
        raise DataSetError(
            f"Dataset {dataset.name!r} (id {dataset.pk}) cannot be opened: {exc}"
        ) from exc
    except (OSError, TypeError, ValueError) as exc:
        # The file may have been replaced by something no reader expects.
        raise DataSetError(
            f"Dataset {dataset.name!r} (id {dataset.pk}) cannot be opened from {dataset.path}: {exc}"
        ) from exc
    _check_unchanged(dataset, ds)
    return ds


def dataset_open_for_job(dataset: Dataset) -> DataSet:
    """:func:`dataset_open`, with the partition limit checked again (DataSetError).

    A sidecar may have been rewritten with more partition files since the dataset was
    registered; every partition costs the scheduler and the driver a task, so a job refuses
    such data as registration does. The frame endpoint, which reads one frame, does not check.
    """
    ds = dataset_open(dataset)
    problem = _too_many_partitions(ds, len(ds.partitions()))
    if problem:
        raise DataSetError(f"Dataset {dataset.name!r} (id {dataset.pk}): {problem}")
    return ds


def _check_unchanged(dataset: Dataset, ds: DataSet) -> None:
    # Size or modification time would also refuse a harmless copy or touch; what the results
    # depend on is the layout, so a replaced file is caught by its shape and dtype. The byte
    # order is the reader's choice (Merlin's big-endian pixels are read little-endian since
    # e4c14b0), not the file's content.
    recorded = (list(dataset.nav_shape), list(dataset.sig_shape), np.dtype(dataset.dtype))
    found = (list(ds.nav_shape), list(ds.sig_shape), ds.dtype)
    if recorded[:2] != found[:2] or recorded[2].newbyteorder("=") != found[2].newbyteorder("="):
        raise DataSetError(
            f"Dataset {dataset.name!r} (id {dataset.pk}) changed since it was registered: "
            f"{dataset.path} now holds nav_shape {found[0]}, sig_shape {found[1]}, dtype "
            f"{found[2].str}; nav_shape {recorded[0]}, sig_shape {recorded[1]}, dtype "
            f"{recorded[2].str} were recorded. Register it again to analyse the new data."
        )


def dataset_share(*, user: Any, dataset: Dataset, groups: Iterable[str]) -> Dataset:
    """Share ``dataset`` with exactly ``groups`` (names); owner or staff only."""
    if not can_change(user, dataset):
        raise PermissionDenied("Only the owner of a dataset (or staff) can share it.")
    with transaction.atomic():
        dataset.groups.set(_groups_for(user, groups))
        # Whoever lost the dataset loses its jobs too (apps.jobs stops them in this transaction).
        dataset_shared.send(sender=Dataset, dataset=dataset)
    return dataset


def dataset_calibrate(
    *,
    user: Any,
    dataset: Dataset,
    scan_step: Any = None,
    scan_units: Any = None,
    detector_step: Any = None,
    detector_units: Any = None,
    beam_energy: Any = None,
    convergence_angle: Any = None,
) -> Dataset:
    """Set the size of a scan step and of a detector pixel (square; None: not known), the beam
    energy (keV) and the convergence semi-angle (mrad).

    Owner or staff only. Raises ValidationError keyed by ``scan_step``, ``scan_units``,
    ``detector_step``, ``detector_units``, ``beam_energy`` or ``convergence_angle``; nothing is
    saved on error.
    """
    if not can_change(user, dataset):
        raise PermissionDenied("Only the owner of a dataset (or staff) can change its calibration.")
    errors: dict[str, Any] = {}
    try:
        axes = calibration_axes(
            previous=dataset.calibration,
            nav_shape=list(dataset.nav_shape),
            sig_shape=list(dataset.sig_shape),
            scan_step=scan_step,
            scan_units=scan_units,
            detector_step=detector_step,
            detector_units=detector_units,
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        beam = beam_values(beam_energy=beam_energy, convergence_angle=convergence_angle)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    dataset.calibration = axes
    dataset.beam_energy = beam["beam_energy"]
    dataset.convergence_angle = beam["convergence_angle"]
    dataset.save(update_fields=["calibration", "beam_energy", "convergence_angle"])
    return dataset


def dataset_delete(*, user: Any, dataset: Dataset) -> list[str]:
    """Delete ``dataset`` with its jobs and results; its ingested copies on the nodes go too
    (``dataset_deleted``). Returns a sentence for each copy that could not be removed."""
    if not can_change(user, dataset):
        raise PermissionDenied("Only the owner of a dataset (or staff) can delete it.")
    dataset.delete()
    answers = dataset_deleted.send(sender=Dataset, dataset=dataset)
    return [line for _, lines in answers for line in lines or []]


def _check_size(ds: DataSet) -> None:
    nbytes = ds.nbytes
    limit = settings.MAX_DATASET_BYTES
    if nbytes > limit:
        raise ValidationError(
            {
                "path": f"{ds.path}: {nbytes} bytes of data is larger than this portal's limit of "
                f"{limit} bytes (MAX_DATASET_BYTES); ask an admin, or register a part of it."
            }
        )


def _clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "Give the dataset a name."})
    name = name.strip()
    if len(name) > NAME_MAX:
        raise ValidationError(
            {"name": f"The name must be at most {NAME_MAX} characters, got {len(name)}."}
        )
    return name


def _check_format(format: Any) -> None:
    if format is not None and (not isinstance(format, str) or format not in FORMATS):
        raise ValidationError(
            {
                "format": f"Unknown format {format!r}; expected one of {', '.join(FORMATS)} "
                "(or none to detect it)."
            }
        )


def _clean_params(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ValidationError(
            {"params": f"params must be a JSON object, got {type(params).__name__}."}
        )
    try:
        # Round-trip: the row stores JSON, and NaN or infinities are not valid parameters.
        json.dumps(params, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationError({"params": "params must be JSON with finite numbers only."}) from None
    return params


def _groups_for(user: Any, names: Iterable[str]) -> list[Group]:
    """The groups named ``names``; a user may share only with groups they belong to."""
    if isinstance(names, str | bytes) or not isinstance(names, Iterable):
        names = [None]  # reported below, like a list holding a non-name
    names = list(names)
    if not all(isinstance(n, str) for n in names):
        raise ValidationError({"groups": "groups must be a list of group names."})
    wanted = set(names)
    allowed = Group.objects.all() if user.is_staff else user.groups.all()
    found = list(allowed.filter(name__in=wanted))
    missing = sorted(wanted - {g.name for g in found})
    if missing:
        raise ValidationError(
            {
                "groups": f"You are not a member of the group(s) {', '.join(missing)} "
                "(or they do not exist)."
            }
        )
    return found


def _open_checked(
    user: Any, path: str, *, format: str | None, params: dict[str, Any]
) -> tuple[DataSet, list[dict[str, Any]]]:
    """The opened dataset and its partitions' descriptions, or ValidationError."""
    resolved = resolve_for(user, path)
    try:
        exists = resolved.exists()
    except OSError as exc:  # no permission to look, say
        raise ValidationError({"path": f"{resolved}: cannot be read: {exc.strerror}."}) from None
    if not exists:
        raise ValidationError({"path": f"{resolved} does not exist."})
    _, inner = split_inner(path.strip())
    target = f"{resolved}:{inner}" if inner else str(resolved)
    # With parameters given, a mismatch (shape, dtype, offset) is most likely theirs.
    field = "params" if params else "path"
    try:
        # The Core checks every file the data refers to (HDF5 links, sidecar partitions,
        # correction maps, ...) as every later read will (read_scope) before reading it.
        ds = open_dataset(target, format=format, params=params, allowed=owner_files(target, user))
        partitions = ds.partitions()
    except ForbiddenReference as exc:
        raise ValidationError({"params" if exc.param else "path": str(exc)}) from None
    except DataSetError as exc:
        raise ValidationError({field: str(exc)}) from None
    except (OSError, TypeError, ValueError) as exc:
        raise ValidationError({field: f"{resolved}: cannot read the data: {exc}"}) from None
    _check_partition_count(ds, len(partitions))
    return ds, [part.describe() for part in partitions]


def _check_partition_count(ds: DataSet, count: int) -> None:
    problem = _too_many_partitions(ds, count)
    if problem:
        raise ValidationError({"path": problem})


def _too_many_partitions(ds: DataSet, count: int) -> str:
    """Why ``ds`` split into ``count`` partitions is refused, or ``""``."""
    limit = settings.MAX_PARTITIONS_PER_DATASET
    if count <= limit:
        return ""
    return (
        f"{ds.path}: the data is split into {count} partitions; this portal takes "
        f"at most {limit} per dataset (MAX_PARTITIONS_PER_DATASET). Write a sidecar with "
        "fewer, larger partitions."
    )


def _check_not_anothers(owner: Any, ds: DataSet, partitions: list[dict[str, Any]]) -> None:
    # Two users who may both use a folder must not reach each other's private datasets by
    # registering the same file again, nor through a file that links to it (an HDF5 external
    # link or virtual source, a data file of a master, ...). The message does not say whose
    # dataset it is.
    path = ds.path
    files = {f.resolve() for f in _backing_files(path, partitions)}
    files |= {Path(os.path.realpath(ref.path)) for ref in ds.checked}
    hidden = Dataset.objects.exclude(pk__in=visible_datasets(owner).values("pk"))
    for other in hidden.only("path", "partitions").iterator():
        # Stored paths were resolved when registered: no file system calls per row.
        if files & _backing_files(other.path, other.partitions):
            raise ValidationError(
                {
                    "path": f"{split_inner(path)[0]} (or a file it refers to) already backs a "
                    "dataset you may not see; "
                    "ask its owner to share it with one of your groups."
                }
            )


def _backing_files(path: str, partitions: list[dict[str, Any]]) -> set[Path]:
    """The files a dataset reads: its own file and its partitions' files (normalised)."""
    main = Path(os.path.normpath(split_inner(path)[0]))
    files = {main}
    for part in partitions:
        part_path = part.get("path")
        if isinstance(part_path, str) and "://" not in part_path:
            files.add(Path(os.path.normpath(main.parent / part_path)))
    return files
