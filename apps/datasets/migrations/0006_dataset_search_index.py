"""The full-text index of the catalogue (PostgreSQL only) and the search text of existing rows.

SQLite has no ``tsvector``: there the column stays empty and search uses ``search_text``
(apps.datasets.search).
"""

from __future__ import annotations

from django.db import migrations

INDEX = "datasets_dataset_search_gin"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON datasets_dataset USING gin (search_vector)"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


def fill_search_text(apps, schema_editor):
    # Rows registered before search existed have no tags or annotations yet: name and format.
    Dataset = apps.get_model("datasets", "Dataset")
    for row in Dataset.objects.only("pk", "name", "format", "notes").iterator():
        text = "\n".join(p for p in (row.name, row.format, row.notes) if p)
        Dataset.objects.filter(pk=row.pk).update(search_text=text)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "UPDATE datasets_dataset SET search_vector = to_tsvector('simple', search_text)"
        )


class Migration(migrations.Migration):
    dependencies = [("datasets", "0005_catalogue_notes_tags_thumbnails")]

    operations = [
        migrations.RunPython(fill_search_text, migrations.RunPython.noop),
        migrations.RunPython(create_index, drop_index),
    ]
