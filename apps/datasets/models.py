"""The dataset catalogue."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models


class Dataset(models.Model):
    class Status(models.TextChoices):
        REGISTERED = "registered"
        INGESTING = "ingesting"
        READY = "ready"
        ERROR = "error"

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
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.READY)
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

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
