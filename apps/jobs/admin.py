from __future__ import annotations

from django.contrib import admin

from apps.jobs.models import Job, Mask


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "analysis", "dataset", "owner", "status", "frames_done", "created")
    list_filter = ("status", "analysis")
    search_fields = ("analysis", "dataset__name", "owner__username")
    raw_id_fields = ("dataset", "owner")
    readonly_fields = ("created", "started", "finished", "heartbeat", "attempt", "partitions")


@admin.register(Mask)
class MaskAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "dataset", "owner", "shape", "dtype", "created")
    search_fields = ("name", "dataset__name", "owner__username")
    raw_id_fields = ("dataset", "owner")
    exclude = ("data",)
    readonly_fields = ("shape", "dtype", "created")
