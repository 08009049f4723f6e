from django.apps import AppConfig


class AcquisitionConfig(AppConfig):
    """Live acquisition: detectors configured by staff and live sessions, a job kind of their
    own (``apps.acquisition.kind``) registered with the jobs app when Django starts."""

    name = "apps.acquisition"
    label = "acquisition"
    verbose_name = "Live acquisition"

    def ready(self) -> None:
        from apps.acquisition.kind import KIND
        from apps.acquisition.serializers import LIVE
        from apps.jobs.kinds import register
        from apps.jobs.serializers import add_job_fields

        register(KIND)
        add_job_fields(live=LIVE | {"description": "Only for a job of the kind live: the session."})
