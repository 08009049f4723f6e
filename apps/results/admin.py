from __future__ import annotations

from django.contrib import admin

from apps.results.models import Result


@admin.register(Result)
class ResultAdmin(admin.ModelAdmin):
    list_display = ("id", "job", "name", "dtype", "shape", "nbytes", "partial", "created")
    list_filter = ("partial",)
    search_fields = ("name",)
    raw_id_fields = ("job",)
    exclude = ("data",)  # arrays are downloaded through the API, not edited
    readonly_fields = ("job", "name", "dtype", "shape", "nbytes", "partial", "created")
