from django.apps import AppConfig


class AcquisitionConfig(AppConfig):
    """Live acquisition: detectors configured by staff and live sessions, a job kind of their
    own (``apps.acquisition.kind``) registered by its module with the jobs app when Django
    starts."""

    name = "apps.acquisition"
    label = "acquisition"
    verbose_name = "Live acquisition"

    def ready(self) -> None:
        from apps.acquisition.serializers import LIVE
        from apps.jobs.extensions import add_job_fields, register_kind
        from apps.jobs.models import Job

        # By its module: the kind (its receiver's driver, hdf5plugin, every other kind of the
        # jobs app) is imported when a job of it is first run or shown, not by every command.
        register_kind(Job.Kind.LIVE, "apps.acquisition.kind")
        add_job_fields(live=LIVE | {"description": "Only for a job of the kind live: the session."})
