"""Job.kind: ingestion was ``analysis="ingest"``; it becomes ``kind="ingest"`` (no analysis)."""

from django.db import migrations, models


def ingest_rows_to_kind(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    Job.objects.filter(analysis="ingest").update(kind="ingest", analysis="")


def ingest_kind_to_rows(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    Job.objects.filter(kind="ingest").update(kind="analysis", analysis="ingest")


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0003_job_shared"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="kind",
            field=models.CharField(
                choices=[("analysis", "Analysis"), ("ingest", "Ingest")],
                default="analysis",
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="job",
            name="analysis",
            field=models.CharField(
                blank=True, help_text="The analysis's name; empty for other kinds.", max_length=40
            ),
        ),
        migrations.RunPython(ingest_rows_to_kind, ingest_kind_to_rows),
    ]
