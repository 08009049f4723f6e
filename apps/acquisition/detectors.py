"""Which detectors a user may operate: enabled ones shared with one of the user's groups, and
every enabled one for staff. A detector a user may not operate is reported as missing (404)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from apps.acquisition.models import Detector
from apps.web.ids import id_or_404


def usable_detectors(user: Any) -> QuerySet[Detector]:
    if not user.is_authenticated:
        return Detector.objects.none()
    enabled = Detector.objects.filter(enabled=True)
    if user.is_staff:
        return enabled
    return enabled.filter(groups__in=user.groups.all()).distinct()


def get_detector(user: Any, pk: Any) -> Detector:
    """The detector ``pk`` if ``user`` may operate it, else Http404."""
    try:
        return usable_detectors(user).select_related("folder").get(pk=id_or_404(pk, "detector"))
    except Detector.DoesNotExist:
        raise Http404("No such detector, or one you may not operate.") from None


def detector_json(detector: Detector) -> dict[str, Any]:
    return {
        "id": detector.pk,
        "name": detector.name,
        "kind": detector.kind,
        "trigger_mode": detector.trigger_mode,
        "sig_shape": list(detector.sig_shape),
        "folder": detector.folder_id,
    }
