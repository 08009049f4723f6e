from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "apps.jobs"
    label = "jobs"

    def ready(self) -> None:
        from apps.core.analyses import load_plugins

        # First, before any view is imported: the API's schema is built from the registry. A
        # plugin that fails is skipped (and shown on /status/), never an error here.
        load_plugins()

        from apps.datasets.signals import dataset_deleted, dataset_registered, dataset_shared
        from apps.jobs.copies import dataset_copies_remove
        from apps.jobs.services import jobs_follow_sharing
        from apps.jobs.thumbnails import thumbnails_on_register

        dataset_shared.connect(jobs_follow_sharing, dispatch_uid="jobs_follow_sharing")
        dataset_deleted.connect(dataset_copies_remove, dispatch_uid="dataset_copies_remove")
        dataset_registered.connect(thumbnails_on_register, dispatch_uid="thumbnails_on_register")
