from __future__ import annotations

from django import forms

from apps.accounts.services import TOKEN_NAME_MAX


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=TOKEN_NAME_MAX,
        help_text="What the token is for, e.g. 'beamtime notebook'.",
    )
