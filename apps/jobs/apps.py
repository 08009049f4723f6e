from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "apps.jobs"
    label = "jobs"

    def ready(self) -> None:
        from apps.core.analyses import load_plugins

        # First, before any view is imported: the API's schema is built from the registry. A
        # plugin that fails is skipped (and shown on /status/), never an error here.
        load_plugins()

        from apps.datasets.signals import (
            dataset_deleted,
            dataset_registered,
            dataset_shared,
            registering_done,
        )
        from apps.jobs import receivers

        dataset_shared.connect(receivers.follow_sharing, dispatch_uid="jobs_follow_sharing")
        dataset_deleted.connect(receivers.remove_copies, dispatch_uid="dataset_copies_remove")
        dataset_registered.connect(
            receivers.thumbnails_on_register, dispatch_uid="thumbnails_on_register"
        )
        registering_done.connect(receivers.jobs_of_this_process_end, dispatch_uid="jobs_end")
