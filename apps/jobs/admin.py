from __future__ import annotations

from typing import Any

from django.contrib import admin, messages

from apps.jobs.models import Job, Mask
from apps.jobs.quotas import RESULT_BYTES, amount
from apps.jobs.retention import results_delete
from apps.live.events import publish_access_changed


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "analysis",
        "dataset",
        "owner",
        "status",
        "shared",
        "frames_done",
        "created",
    )
    list_filter = ("status", "analysis", "shared")
    search_fields = ("analysis", "dataset__name", "owner__username")
    raw_id_fields = ("dataset", "owner")
    readonly_fields = (
        "created",
        "started",
        "finished",
        "heartbeat",
        "attempt",
        "partitions",
        "results_deleted",
    )
    actions = ("share", "unshare", "delete_results")

    @admin.action(description="Share with everyone who may see the dataset")
    def share(self, request: Any, queryset: Any) -> None:
        queryset.update(shared=True)

    @admin.action(description="Show to the owner (and staff) only")
    def unshare(self, request: Any, queryset: Any) -> None:
        job_ids = list(queryset.values_list("pk", flat=True))
        queryset.update(shared=False)
        publish_access_changed(job_ids)

    @admin.action(description="Delete the results of the selected jobs (frees the quota)")
    def delete_results(self, request: Any, queryset: Any) -> None:
        freed = results_delete(jobs=queryset)
        left = queryset.count() - freed.jobs
        self.message_user(
            request,
            f"Deleted {freed.results} results of {freed.jobs} jobs, "
            f"{amount(RESULT_BYTES, freed.nbytes)}; the jobs stay listed."
            + (f" {left} job(s) still waiting or running kept theirs." if left else ""),
            messages.SUCCESS,
        )


@admin.register(Mask)
class MaskAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "dataset", "owner", "shape", "dtype", "created")
    search_fields = ("name", "dataset__name", "owner__username")
    raw_id_fields = ("dataset", "owner")
    exclude = ("data",)
    readonly_fields = ("shape", "dtype", "created")
