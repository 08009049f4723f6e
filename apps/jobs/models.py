"""Jobs: one run of one kind of work on one dataset (an analysis, an ingestion).

What each kind runs is in ``apps.jobs.kinds``; every kind goes through the one driver
(``apps.jobs.driver``): claim, heartbeat, progress, cancellation, guarded finish.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Upper

from apps.datasets.models import Dataset
from apps.datasets.notes import AnnotationBase, TagBase


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        FINISHED = "finished"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Kind(models.TextChoices):
        ANALYSIS = "analysis"
        INGEST = "ingest"
        THUMBNAIL = "thumbnail"
        # an analysis answered from the results of an identical finished job (apps.jobs.cache)
        REUSED = "reused"
        # a live session: reception from a detector, analyses and recording (apps.live)
        LIVE = "live"

    TERMINAL = (Status.FINISHED, Status.FAILED, Status.CANCELLED)
    #: the kinds whose results are an analysis's (computed, or reused from another job)
    ANALYSES = (Kind.ANALYSIS, Kind.REUSED)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs"
    )
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.ANALYSIS)
    analysis = models.CharField(
        max_length=40, blank=True, help_text="The analysis's name; empty for other kinds."
    )
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
    notes = models.TextField(blank=True, help_text="Free text by the job's owner (or staff).")
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=0, help_text="Fencing token of the current run.")
    partitions = models.JSONField(
        default=list, blank=True, help_text="Per partition: index, frames, worker, seconds, bytes."
    )
    provenance = models.JSONField(
        default=dict,
        blank=True,
        help_text="How the results were made (apps.jobs.provenance): the code ({source: "
        "builtin, version} or {source: plugin, distribution, version, sha256, entry_point}), "
        "the dataset identity, analysis, parameters, ROI, engine version, git revision, "
        "executor and partitions; set when the job finishes.",
    )
    cache_key = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of what the results depend on (dataset identity, analysis and its "
        "code, normalised parameters, ROI, engine version; apps.jobs.cache); empty if unknown.",
    )
    reused_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reused_by",
        help_text="For a reused job: the finished job whose results it copied.",
    )
    partitioning = models.JSONField(
        null=True,
        blank=True,
        help_text="Frame ranges [[start, stop], ...] the job must compute in (a reproduction "
        "of a provenance record); null: the executor's own split.",
    )
    results_deleted = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When staff deleted the job's results (retention, apps.jobs.retention); "
        "the job's record stays.",
    )
    superseded_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="supersedes",
        help_text="The newer job that replaced this one while it was still waiting or running "
        "(an edit on the analysis page, e.g. one step of a drag); lists fold it under that job.",
    )

    class Meta:
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["status", "created"]),
            # the result cache's lookup (apps.jobs.cache): SQLite otherwise scans every
            # finished job through the status index
            models.Index(fields=["cache_key", "status"], name="jobs_job_cache_key_status"),
        ]

    def __str__(self) -> str:
        return f"{self.title} on {self.dataset} ({self.status})"

    @property
    def title(self) -> str:
        """What the job runs, in a word: the analysis's name, else the kind (``ingest``)."""
        return self.analysis or self.kind

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


class JobTag(TagBase):
    """A tag on a job's results (``apps.datasets.notes``)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="tags")

    class Meta(TagBase.Meta):
        constraints = [models.UniqueConstraint(fields=["job", "name"], name="one_job_tag")]
        indexes = [models.Index(Upper("name"), name="job_tag_upper_name")]


class JobAnnotation(AnnotationBase):
    """A ``key: value`` annotation on a job's results (``apps.datasets.notes``)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="annotations")

    class Meta(AnnotationBase.Meta):
        constraints = [models.UniqueConstraint(fields=["job", "key"], name="one_job_annotation")]
        indexes = [models.Index(Upper("key"), name="job_annotation_upper_key")]
