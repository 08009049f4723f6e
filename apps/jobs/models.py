"""Analysis jobs: one run of one analysis on one dataset."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.datasets.models import Dataset


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        FINISHED = "finished"
        FAILED = "failed"
        CANCELLED = "cancelled"

    TERMINAL = (Status.FINISHED, Status.FAILED, Status.CANCELLED)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs"
    )
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="jobs")
    analysis = models.CharField(max_length=40)
    params = models.JSONField(default=dict, blank=True)
    roi = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    shared = models.BooleanField(
        default=False,
        help_text="Shown to everyone who may see the dataset (set by the job's owner).",
    )
    frames_done = models.BigIntegerField(default=0)
    frames_total = models.BigIntegerField(default=0)
    bytes_read = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=0, help_text="Fencing token of the current run.")
    partitions = models.JSONField(
        default=list, blank=True, help_text="Per partition: index, frames, worker, seconds, bytes."
    )

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["status", "created"])]

    def __str__(self) -> str:
        return f"{self.analysis} on {self.dataset} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


class Mask(models.Model):
    """An uploaded mask stack ``(m, sy, sx)`` for the ``masks`` analysis, stored as .npy bytes."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="masks"
    )
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="masks")
    name = models.CharField(max_length=200, blank=True)
    shape = models.JSONField(help_text="Always (m, sy, sx); one uploaded (sy, sx) mask has m=1.")
    dtype = models.CharField(max_length=8)
    data = models.BinaryField(help_text="The mask stack as .npy bytes.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name or 'mask'} {self.shape} for {self.dataset}"
