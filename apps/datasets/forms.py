from __future__ import annotations

import json
from typing import Any

from django import forms

from apps.accounts.api import json_parse
from apps.core.io import FORMATS
from apps.datasets.services import NAME_MAX

FORMAT_CHOICES = [("", "detect")] + [(f, f) for f in FORMATS]


class GroupsField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple


class ParamsField(forms.CharField):
    """Format parameters as a JSON object in a text area (``{}`` when left empty)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value: Any) -> Any:
        return json.dumps(value) if isinstance(value, dict) else value

    def to_python(self, value: Any) -> dict[str, Any]:
        text = super().to_python(value).strip()
        if not text:
            return {}
        try:
            parsed = json_parse(text)
        except ValueError as exc:  # invalid, NaN or infinities, nested too deep
            raise forms.ValidationError(f"The parameters are not valid JSON ({exc}).") from None
        if not isinstance(parsed, dict):
            raise forms.ValidationError("The parameters must be a JSON object {...}.")
        return parsed


class RegisterForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX)
    path = forms.CharField(
        max_length=4096, help_text="A file inside the data folders; HDF5 may add :/inner/path."
    )
    format = forms.ChoiceField(choices=FORMAT_CHOICES, required=False)
    params = ParamsField(
        required=False,
        help_text='JSON, e.g. {"nav_shape": [64, 64], "sig_shape": [128, 128], "dtype": "<u2"} '
        "for a headerless raw file.",
    )
    groups = GroupsField(required=False, help_text="Share with these groups.")

    def __init__(self, *args: Any, groups: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["groups"].choices = [(g, g) for g in groups]


class ShareForm(forms.Form):
    groups = GroupsField(required=False)

    def __init__(self, *args: Any, groups: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["groups"].choices = [(g, g) for g in groups]
