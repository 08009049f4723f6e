from __future__ import annotations

from django.contrib import admin

from apps.datasets.models import Dataset


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "format", "dtype", "status", "created"]
    list_filter = ["status", "format", "groups"]
    search_fields = ["name", "path", "owner__username"]
    filter_horizontal = ["groups"]
    readonly_fields = ["created"]
