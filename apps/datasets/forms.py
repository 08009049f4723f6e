from __future__ import annotations

from typing import Any

from django import forms

from apps.accounts.api import json_parse
from apps.core.io import FORMATS
from apps.datasets.services import NAME_MAX


class GroupsField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple


class RegisterForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX)
    path = forms.CharField(
        max_length=4096, help_text="A file inside the data folders; HDF5 may add :/inner/path."
    )
    format = forms.ChoiceField(choices=[("", "detect")] + [(f, f) for f in FORMATS], required=False)
    params = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text='JSON, e.g. {"nav_shape": [64, 64], "sig_shape": [128, 128], "dtype": "<u2"} '
        "for a headerless raw file.",
    )
    groups = GroupsField(required=False, help_text="Share with these groups.")

    def __init__(self, *args: Any, groups: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["groups"].choices = [(g, g) for g in groups]

    def clean_params(self) -> dict[str, Any] | None:
        text = self.cleaned_data["params"].strip()
        if not text:
            return None
        try:
            value = json_parse(text)
        except ValueError as exc:  # invalid, NaN or infinities, nested too deep
            raise forms.ValidationError(f"The parameters are not valid JSON ({exc}).") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("The parameters must be a JSON object {...}.")
        return value


class ShareForm(forms.Form):
    groups = GroupsField(required=False)

    def __init__(self, *args: Any, groups: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["groups"].choices = [(g, g) for g in groups]
