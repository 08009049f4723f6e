from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from apps.datasets.folders import folder_clean_path
from apps.datasets.forms import FORMAT_CHOICES, ParamsField
from apps.datasets.models import DataFolder, Dataset
from apps.datasets.services import dataset_inspect

#: Fields of a dataset that come from its file: shown, never typed in.
DERIVED = ["nav_shape", "sig_shape", "dtype", "partitions", "calibration"]
#: Fields that decide what the file is; changing one validates the file again.
SOURCE = ["owner", "path", "format", "params"]


class DatasetForm(forms.ModelForm):
    """Validates path, format and parameters exactly as registration does (for the owner), and
    takes shapes, dtype and partitions from the file: the admin cannot point a dataset at
    ``/etc/passwd`` or give it a scan shape its file does not have."""

    format = forms.ChoiceField(choices=FORMAT_CHOICES, required=False)
    params = ParamsField(required=False, help_text="Format parameters (JSON), as when registering.")

    class Meta:
        model = Dataset
        fields = ["name", *SOURCE, "groups", "status", "error"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self.derived: dict[str, Any] = {}
        unchanged = self.instance.pk and not set(SOURCE) & set(self.changed_data)
        if unchanged or self.errors or not cleaned.get("owner"):
            return cleaned
        try:
            self.derived = dataset_inspect(
                owner=cleaned["owner"],
                path=cleaned.get("path") or "",
                format=cleaned.get("format") or None,
                params=cleaned.get("params"),
            )
        except ValidationError as exc:
            raise ValidationError(
                {
                    k if k in self.fields else NON_FIELD_ERRORS: v
                    for k, v in exc.message_dict.items()
                }
            ) from None
        return cleaned

    def save(self, commit: bool = True) -> Dataset:
        dataset = super().save(commit=False)
        for field, value in self.derived.items():
            setattr(dataset, field, value)
        if commit:
            dataset.save()
            self.save_m2m()
        return dataset


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    form = DatasetForm
    list_display = ["name", "owner", "format", "dtype", "status", "created"]
    list_filter = ["status", "format", "groups"]
    search_fields = ["name", "path", "owner__username"]
    filter_horizontal = ["groups"]
    readonly_fields = [*DERIVED, "created"]


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
