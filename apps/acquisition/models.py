"""Live acquisition: the detectors staff configure and the live sessions that record from them.

A ``Detector`` is a Merlin or DECTRIS detector the portal may arm, with the groups whose members
may operate it and the data folder its recordings go to. A ``LiveSession`` is the live part of a
job of the kind ``live``: which detector, the scan, the analyses (changeable while it runs), and
what arrived so far. The job itself (owner, status, sharing, results) is an ordinary ``Job``.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models

from apps.datasets.models import DataFolder
from apps.jobs.models import Job

MAX_PORT = 65535
#: Detector frames the portal accepts (a quad Merlin reads 512 x 512, an Eiger 16M 4362 x 4148)
MAX_SIG_SIDE = 8192


class Detector(models.Model):
    class Kind(models.TextChoices):
        MERLIN = "merlin", "Merlin / Medipix3 (TCP)"
        DECTRIS = "dectris", "DECTRIS (SIMPLON + zmq)"

    #: The trigger modes each kind understands (docs/live.md, Setup).
    TRIGGER_MODES = {
        Kind.MERLIN: ("soft", "external"),
        Kind.DECTRIS: ("exte", "exts"),
    }

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    host = models.CharField(max_length=255, help_text="Host name or address of the readout PC.")
    data_port = models.PositiveIntegerField(
        help_text="Merlin: the data port (6342). DECTRIS: the zmq stream port (9999)."
    )
    control_port = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Merlin: the control port (6341; empty: only listen, someone else arms). "
        "DECTRIS: the SIMPLON API port (80).",
    )
    trigger_mode = models.CharField(
        max_length=10,
        help_text="Merlin: soft or external. DECTRIS: exte or exts.",
    )
    sig_shape = models.JSONField(
        help_text="The frames' [height, width] in pixels (e.g. [256, 256]): analyses' "
        "parameters are checked against it when a session is armed."
    )
    groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="detectors",
        help_text="Members of these groups may operate the detector (staff always may).",
    )
    folder = models.ForeignKey(
        DataFolder,
        on_delete=models.PROTECT,
        related_name="detectors",
        help_text="The data folder recordings go to, unless the operator names another folder "
        "they may use.",
    )
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        modes = self.TRIGGER_MODES.get(self.kind, ())
        if modes and self.trigger_mode not in modes:
            errors["trigger_mode"] = (
                f"{self.trigger_mode!r} is not a trigger mode of a {self.kind} detector; "
                f"use one of {', '.join(modes)}."
            )
        for field in ("data_port", "control_port"):
            port = getattr(self, field)
            if port is not None and not 1 <= port <= MAX_PORT:
                errors[field] = f"must be a TCP port from 1 to {MAX_PORT}, got {port}."
        if self.kind == self.Kind.DECTRIS and self.control_port is None:
            errors["control_port"] = "a DECTRIS detector needs its SIMPLON API port (e.g. 80)."
        if not _is_sig_shape(self.sig_shape):
            errors["sig_shape"] = (
                f"must be [height, width], two whole numbers from 1 to {MAX_SIG_SIDE}, "
                f"got {self.sig_shape!r:.60}."
            )
        if errors:
            raise ValidationError(errors)


def _is_sig_shape(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and all(1 <= v <= MAX_SIG_SIDE for v in value)
    )


class LiveSession(models.Model):
    """The live part of a ``live`` job: its detector, scan, analyses and reception so far."""

    class State(models.TextChoices):
        ARMED = "armed"  # waiting for the receiver to start
        RECEIVING = "receiving"
        COMPLETE = "complete"  # every frame of the (last) scan arrived
        INCOMPLETE = "incomplete"  # the scan ended with frames missing
        STOPPED = "stopped"  # the operator stopped it
        FAILED = "failed"  # the stream or the receiver broke off

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="live")
    detector = models.ForeignKey(Detector, on_delete=models.PROTECT, related_name="sessions")
    nav_shape = models.JSONField()
    analyses = models.JSONField(
        help_text="[{analysis, params}, ...] in the order viewers number them; changed while "
        "the session runs (revision counts the changes)."
    )
    revision = models.PositiveIntegerField(default=0)
    continuous = models.BooleanField(default=False)
    folder = models.ForeignKey(DataFolder, on_delete=models.PROTECT, related_name="sessions")
    name = models.CharField(max_length=200)
    record_path = models.CharField(
        max_length=4096, help_text="The recording's folder (of the first scan)."
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.ARMED)
    stop_requested = models.BooleanField(default=False)
    scan = models.PositiveIntegerField(default=0, help_text="Scans completed (continuous mode).")
    frames = models.BigIntegerField(default=0, help_text="Frames received (this scan).")
    lost_frames = models.BigIntegerField(default=0)
    report = models.JSONField(
        default=dict, blank=True, help_text="The frame ledger's report of the last scan."
    )

    def __str__(self) -> str:
        return f"live session {self.name} on {self.detector}"
