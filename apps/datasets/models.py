"""The dataset catalogue."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models.functions import Upper

from apps.datasets.notes import AnnotationBase, TagBase


class Dataset(models.Model):
    class Status(models.TextChoices):
        REGISTERED = "registered"
        INGESTING = "ingesting"
        READY = "ready"
        ERROR = "error"
        # a live session is writing it (apps.live); ready when the scan ends
        RECORDING = "recording"

    class Origin(models.TextChoices):
        FILE = "file"  # registered from a file
        LIVE = "live"  # recorded by a live session

    name = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="datasets"
    )
    groups = models.ManyToManyField(Group, blank=True, related_name="datasets")
    format = models.CharField(max_length=20)
    path = models.CharField(max_length=4096, help_text="Resolved path inside a data root.")
    params = models.JSONField(default=dict, blank=True, help_text="Format parameters.")
    nav_shape = models.JSONField()
    sig_shape = models.JSONField()
    dtype = models.CharField(max_length=8)
    partitions = models.JSONField(default=list, blank=True, help_text="Placement per partition.")
    calibration = models.JSONField(
        default=list,
        blank=True,
        help_text="Per axis of the data (scan, then detector): name, units, scale, offset.",
    )
    # The microscope's optics, typed once on the dataset page (null: not known); analyses
    # such as SSB take their physical parameters from here (apps.datasets.calibration).
    beam_energy = models.FloatField(null=True, blank=True, help_text="Beam energy in keV.")
    convergence_angle = models.FloatField(
        null=True, blank=True, help_text="Convergence semi-angle in mrad."
    )
    identity = models.JSONField(
        default=dict,
        blank=True,
        help_text="Which bytes the data are: per file path, size, mtime_ns and a content hash "
        "(apps.datasets.identity); recorded at registration, checked at every job submission.",
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.READY)
    origin = models.CharField(
        max_length=8,
        choices=Origin.choices,
        default=Origin.FILE,
        help_text="Where the data came from: a registered file, or a live session's recording.",
    )
    error = models.TextField(blank=True)
    notes = models.TextField(blank=True, help_text="Free text by the owner (or staff).")
    search_text = models.TextField(
        blank=True,
        editable=False,
        help_text="Name, notes, tags and annotations in one text (apps.datasets.search).",
    )
    search_vector = SearchVectorField(
        null=True, editable=False, help_text="search_text for PostgreSQL's full-text search."
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["created"], name="dataset_created")]

    def __str__(self) -> str:
        return self.name

    @property
    def n_frames(self) -> int:
        n = 1
        for d in self.nav_shape:
            n *= int(d)
        return n

    @property
    def nbytes(self) -> int:
        import numpy as np

        if not self.dtype:
            return 0  # a live session's recording before the detector said its dtype

        sy, sx = self.sig_shape
        return self.n_frames * sy * sx * np.dtype(self.dtype).itemsize


class DataFolder(models.Model):
    """A folder inside ``DATA_ROOTS`` that staff opened to some users (see docs/security.md).

    A user may browse and register files in a folder when the nearest declared folder above it
    is open to all signed-in users or to one of the user's groups; undeclared folders are for
    staff only.
    """

    PATH_MAX = 1024

    path = models.CharField(
        max_length=PATH_MAX, unique=True, help_text="The folder's resolved path inside DATA_ROOTS."
    )
    groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="data_folders",
        help_text="Members of these groups may use the folder.",
    )
    open_to_all = models.BooleanField(
        default=False, help_text="Every signed-in user may use the folder (whatever the groups)."
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["path"]

    def __str__(self) -> str:
        return self.path


class DatasetTag(TagBase):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="tags")

    class Meta(TagBase.Meta):
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="one_dataset_tag")]
        indexes = [models.Index(Upper("name"), name="dataset_tag_upper_name")]


class DatasetAnnotation(AnnotationBase):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="annotations")

    class Meta(AnnotationBase.Meta):
        constraints = [
            models.UniqueConstraint(fields=["dataset", "key"], name="one_dataset_annotation")
        ]
        indexes = [models.Index(Upper("key"), name="dataset_annotation_upper_key")]


class Thumbnail(models.Model):
    """A small image of a dataset for the catalogue: its mean frame or a virtual annular
    dark-field image, as PNG bytes (written by the ``thumbnail`` job kind of apps.jobs)."""

    class Kind(models.TextChoices):
        MEAN = "mean", "Mean frame"
        ADF = "adf", "Annular dark field"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="thumbnails")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    png = models.BinaryField()
    detail = models.JSONField(
        default=dict, blank=True, help_text="How it was made (the ring of the ADF image)."
    )
    created = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "kind"], name="one_thumbnail_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.kind} thumbnail of {self.dataset}"


class FolderAccessVersion(models.Model):
    """One row whose ``token`` changes with every change of who may use which data folder
    (folders, their groups, group memberships, staff status; ``apps.datasets.audiences``).

    Processes keep the folder audiences they read under the token they read first, and read
    them again once the token differs: a change is seen by the next job in every process. A
    token is random, never a counter: a change rolled back leaves no token that a later
    change could bring back.
    """

    token = models.CharField(max_length=32)

    def __str__(self) -> str:
        return self.token
