from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from apps.datasets.folders import folder_clean_path
from apps.datasets.models import DataFolder, Dataset


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "format", "dtype", "status", "created"]
    list_filter = ["status", "format", "groups"]
    search_fields = ["name", "path", "owner__username"]
    filter_horizontal = ["groups"]
    readonly_fields = ["created"]


class DataFolderForm(forms.ModelForm):
    class Meta:
        model = DataFolder
        fields = ["path", "open_to_all", "groups"]

    def clean_path(self) -> str:
        try:
            return folder_clean_path(self.cleaned_data["path"])
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None


@admin.register(DataFolder)
class DataFolderAdmin(admin.ModelAdmin):
    form = DataFolderForm
    list_display = ["path", "open_to_all", "group_names", "created"]
    list_filter = ["open_to_all", "groups"]
    search_fields = ["path"]
    filter_horizontal = ["groups"]

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="groups")
    def group_names(self, folder: DataFolder) -> str:
        return ", ".join(g.name for g in folder.groups.all()) or "—"
