"""Notes, tags and key-value annotations: what people write about a dataset or a job.

Datasets (here) and jobs (``apps.jobs``) carry the same three things: ``notes`` (free text on
the row), tags (``TagBase`` rows) and annotations (``AnnotationBase`` rows, ``key: value``).
Annotations are written by people (``source`` user) or read from the data file at registration
(``source`` detected: HDF5/NeXus attributes, Merlin and Arina headers); people edit only
theirs, and a key someone wrote hides the detected value of that key.

:func:`notes_apply` checks everything before it writes anything; a ValidationError names the
field (``notes``, ``tags`` or ``annotations``) and what was expected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

NOTES_MAX = 10_000
TAG_MAX = 64
TAGS_MAX = 50
KEY_MAX = 64
VALUE_MAX = 1000
ANNOTATIONS_MAX = 100
#: A tag and a key as sent, before stripping (the API document states the same patterns; a
#: whitespace-only tag is skipped).
TAG_PATTERN = r"^\s*\w[\w .+/:-]*$"
KEY_PATTERN = r"^[A-Za-z][\w .:/-]*$"


#: The JSON Schemas of the three, as the API accepts them (null clears).
NOTES_SCHEMA = {"type": ["string", "null"], "maxLength": NOTES_MAX}
TAGS_SCHEMA = {
    "type": ["array", "null"],
    "maxItems": TAGS_MAX,
    "items": {"type": "string", "maxLength": TAG_MAX, "pattern": rf"^(\s*|{TAG_PATTERN[1:-1]})$"},
}
ANNOTATIONS_SCHEMA = {
    "type": ["object", "null"],
    "maxProperties": ANNOTATIONS_MAX,
    "propertyNames": {"maxLength": KEY_MAX, "pattern": KEY_PATTERN},
    "additionalProperties": {"type": ["string", "number", "null"], "maxLength": VALUE_MAX},
}


class TagBase(models.Model):
    # Searched by name in any case: the concrete models index Upper("name").
    name = models.CharField(max_length=TAG_MAX)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AnnotationBase(models.Model):
    class Source(models.TextChoices):
        USER = "user"
        DETECTED = "detected", "Detected in the file"

    # Searched by key in any case: the concrete models index Upper("key").
    key = models.CharField(max_length=KEY_MAX)
    value = models.CharField(max_length=VALUE_MAX)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.USER)

    class Meta:
        abstract = True
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key}: {self.value}"


def clean_notes(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError({"notes": f"notes: must be text, got {type(value).__name__}."})
    if len(value) > NOTES_MAX:  # as sent, as the API document counts
        raise ValidationError(
            {"notes": f"notes: must be at most {NOTES_MAX} characters, got {len(value)}."}
        )
    return value.strip()


def clean_tags(value: Any) -> list[str]:
    """A list of tag names, stripped, without repeats (whatever their case; blank ones are
    skipped); ValidationError naming ``tags``."""
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
        raise ValidationError({"tags": "tags: must be a list of tag names (text)."})
    if len(value) > TAGS_MAX:
        raise ValidationError({"tags": f"tags: at most {TAGS_MAX} tags, got {len(value)}."})
    tags: dict[str, str] = {}
    for raw in value:
        if len(raw) <= TAG_MAX and not raw.strip():
            continue
        if len(raw) > TAG_MAX or not re.match(TAG_PATTERN, raw):
            raise ValidationError(
                {
                    "tags": f"tags: {raw[:TAG_MAX]!r} is not a tag: up to {TAG_MAX} letters, "
                    "digits, spaces and . + / : - _, starting with a letter or digit."
                }
            )
        tag = raw.strip()
        tags.setdefault(tag.casefold(), tag)
    return sorted(tags.values(), key=str.casefold)


def clean_annotations(value: Any) -> dict[str, str]:
    """``{key: value}`` with text keys and text or number values (numbers kept as written);
    an empty value drops the key. ValidationError naming ``annotations``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(
            {"annotations": 'annotations: must be an object {"key": "value", ...}.'}
        )
    if len(value) > ANNOTATIONS_MAX:
        raise ValidationError(
            {"annotations": f"annotations: at most {ANNOTATIONS_MAX} keys, got {len(value)}."}
        )
    out: dict[str, str] = {}
    for key, raw in value.items():
        if len(key) > KEY_MAX or not re.match(KEY_PATTERN, key):
            raise ValidationError(
                {
                    "annotations": f"annotations: key {key[:KEY_MAX]!r} is not a name: up to {KEY_MAX} "
                    "letters, digits, spaces and . : / - _, starting with a letter."
                }
            )
        text = _value_text(key, raw)
        if text:
            out[key.strip()] = text
    return out


def _value_text(key: str, raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ValidationError(
            {
                "annotations": f"annotations: the value of {key!r} must be text or a number, got {raw!r:.40}."
            }
        )
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ValidationError(
            {"annotations": f"annotations: the value of {key!r} must be a finite number."}
        )
    text = str(raw)
    if len(text) > VALUE_MAX:
        raise ValidationError(
            {
                "annotations": f"annotations: the value of {key!r} must be at most {VALUE_MAX} characters."
            }
        )
    return text.strip()


def parse_annotation_lines(text: str) -> dict[str, str]:
    """``key: value`` lines (the pages' text box) as a mapping; ValidationError naming
    ``annotations`` for a line without a colon."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ValidationError(
                {
                    "annotations": f"annotations: line {number} ({line.strip()[:40]!r}) is not 'key: value'."
                }
            )
        out[key.strip()] = value.strip()
    return out


_UNSET: Any = object()


def notes_apply(
    obj: models.Model, *, notes: Any = _UNSET, tags: Any = _UNSET, annotations: Any = _UNSET
) -> None:
    """Replace the notes, the tags and the people's annotations of ``obj`` (each only when
    given); nothing is written unless all are valid."""
    clean: dict[str, Any] = {}
    if notes is not _UNSET:
        clean["notes"] = clean_notes(notes)
    if tags is not _UNSET:
        clean["tags"] = clean_tags(tags)
    if annotations is not _UNSET:
        clean["annotations"] = clean_annotations(annotations)
    with transaction.atomic():
        if "notes" in clean:
            type(obj).objects.filter(pk=obj.pk).update(notes=clean["notes"])
            obj.notes = clean["notes"]  # type: ignore[attr-defined]
        if "tags" in clean:
            _replace_rows(obj, "tags", [{"name": t} for t in clean["tags"]])
        if "annotations" in clean:
            _replace_annotations(obj, clean["annotations"], AnnotationBase.Source.USER)


def metadata_apply(obj: models.Model, metadata: Mapping[str, str]) -> None:
    """Store ``metadata`` read from the data file as ``obj``'s detected annotations (a key a
    person annotated keeps the person's value)."""
    _replace_annotations(obj, dict(metadata), AnnotationBase.Source.DETECTED)


def _replace_annotations(obj: models.Model, values: dict[str, str], source: str) -> None:
    manager = obj.annotations  # type: ignore[attr-defined]
    manager.filter(source=source).delete()
    if source == AnnotationBase.Source.USER:
        manager.filter(key__in=list(values)).delete()  # a person's key hides the file's
    taken = set(manager.values_list("key", flat=True))
    rows = [
        {"key": k[:KEY_MAX], "value": v[:VALUE_MAX], "source": source}
        for k, v in values.items()
        if k not in taken
    ]
    _create_rows(obj, "annotations", rows)


def _replace_rows(obj: models.Model, related: str, rows: list[dict[str, Any]]) -> None:
    getattr(obj, related).all().delete()
    _create_rows(obj, related, rows)


def _create_rows(obj: models.Model, related: str, rows: list[dict[str, Any]]) -> None:
    manager = getattr(obj, related)
    fk = manager.field.name
    manager.model.objects.bulk_create([manager.model(**{fk: obj}, **row) for row in rows])


def notes_json(obj: models.Model) -> dict[str, Any]:
    """The notes, tags, people's annotations and detected metadata of ``obj`` (prefetch
    ``tags`` and ``annotations`` when listing many)."""
    annotations: dict[str, str] = {}
    metadata: dict[str, str] = {}
    for row in obj.annotations.all():  # type: ignore[attr-defined]
        target = metadata if row.source == AnnotationBase.Source.DETECTED else annotations
        target[row.key] = row.value
    return {
        "notes": obj.notes,  # type: ignore[attr-defined]
        "tags": sorted((t.name for t in obj.tags.all()), key=str.casefold),  # type: ignore[attr-defined]
        "annotations": dict(sorted(annotations.items())),
        "metadata": dict(sorted(metadata.items())),
    }
