from __future__ import annotations

import json
from typing import Any

from django import forms

from apps.core.io import FORMATS
from apps.datasets.calibration import DETECTOR_CHOICES, SCAN_CHOICES
from apps.datasets.services import NAME_MAX
from apps.web.api import json_parse

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


class CalibrationForm(forms.Form):
    """The size of a scan step and of a detector pixel, the beam energy (keV) and convergence
    semi-angle (mrad); an empty value means not known.

    Only the form's own checks (a number) live here; the service validates the values
    themselves, so the page and the API refuse the same input with the same words.
    """

    scan_step = forms.FloatField(
        required=False,
        widget=forms.NumberInput(attrs={"step": "any"}),
        error_messages={"invalid": "The scan step must be a number."},
    )
    # Plain text behind a menu: the service names a unit it does not know.
    scan_units = forms.CharField(widget=forms.Select(choices=[(u, u) for u in SCAN_CHOICES]))
    detector_step = forms.FloatField(
        required=False,
        label="Detector pixel",
        widget=forms.NumberInput(attrs={"step": "any"}),
        error_messages={"invalid": "The detector pixel size must be a number."},
    )
    detector_units = forms.CharField(
        widget=forms.Select(choices=[(u, u) for u in DETECTOR_CHOICES])
    )
    beam_energy = forms.FloatField(
        required=False,
        label="Beam energy",
        widget=forms.NumberInput(attrs={"step": "any"}),
        error_messages={"invalid": "The beam energy must be a number of keV."},
    )
    convergence_angle = forms.FloatField(
        required=False,
        label="Convergence semi-angle",
        widget=forms.NumberInput(attrs={"step": "any"}),
        error_messages={"invalid": "The convergence semi-angle must be a number of mrad."},
    )
