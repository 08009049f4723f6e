"""The database-backed result store: one row per named result array."""

from __future__ import annotations

from django.db import models


class Result(models.Model):
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="results")
    name = models.CharField(max_length=40)
    dtype = models.CharField(max_length=8)
    shape = models.JSONField()
    nbytes = models.BigIntegerField()
    data = models.BinaryField(help_text="The array as .npy bytes.")
    partial = models.BooleanField(
        default=False, help_text="Latest partial result of a running job."
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "name"]
        constraints = [
            models.UniqueConstraint(fields=["job", "name", "partial"], name="one_result_per_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} of job {self.job_id}"
