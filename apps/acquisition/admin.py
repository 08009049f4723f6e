"""Staff configure detectors in the admin; live sessions are shown read-only."""

from __future__ import annotations

from django.contrib import admin

from apps.acquisition.models import Detector, LiveSession


@admin.register(Detector)
class DetectorAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "host", "data_port", "control_port", "folder", "enabled"]
    list_filter = ["kind", "enabled"]
    filter_horizontal = ["groups"]


@admin.register(LiveSession)
class LiveSessionAdmin(admin.ModelAdmin):
    list_display = ["job", "detector", "name", "state", "scan", "frames", "lost_frames"]
    list_filter = ["state", "detector"]
    readonly_fields = [f.name for f in LiveSession._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
