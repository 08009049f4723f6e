"""The job list's filters: a GET form whose choices are what the viewer may see."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from apps.core.analyses import ANALYSES
from apps.datasets.access import visible_datasets
from apps.jobs import selectors
from apps.jobs.models import Job

ANY = [("", "any")]


class JobFilterForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=None, required=False, empty_label="any")
    analysis = forms.ChoiceField(required=False)
    status = forms.ChoiceField(choices=ANY + list(Job.Status.choices), required=False)
    owner = forms.ChoiceField(required=False)
    superseded = forms.BooleanField(
        required=False, label="list superseded jobs", help_text="Unfolded, one row each."
    )

    def __init__(self, data: Any, *, user: Any) -> None:
        super().__init__(data)
        self.user = user
        self.fields["dataset"].queryset = visible_datasets(user).order_by("name")
        kinds = [(name, name) for name in ANALYSES] + [(Job.Kind.INGEST, Job.Kind.INGEST)]
        self.fields["analysis"].choices = ANY + kinds
        if user.is_staff:  # the others see their own jobs and those shared with them
            owners = get_user_model().objects.filter(jobs__isnull=False).distinct()
            names = sorted(owners.values_list("username", flat=True))
            self.fields["owner"].choices = ANY + [(n, n) for n in names]
        else:
            del self.fields["owner"]

    def jobs(self) -> QuerySet[Job]:
        """The viewer's jobs narrowed by the fields that are valid (a wrong one is shown as an
        error and left out, rather than emptying the list)."""
        self.is_valid()
        data = self.cleaned_data
        dataset = data.get("dataset")
        return selectors.job_list(
            user=self.user,
            dataset_id=dataset.pk if dataset else None,
            analysis=data.get("analysis") or None,
            status=data.get("status") or None,
            owner=data.get("owner") or None,
            superseded=None if data.get("superseded") else False,
        )

    @property
    def folds(self) -> bool:
        """Superseded jobs are folded under their replacement unless listed as rows."""
        return not self.cleaned_data.get("superseded")
