"""``manage.py make_demo_data``: write the synthetic demo dataset and register it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.accounts.localadmin import local_admin_ensure
from apps.datasets.demo import write_demo
from apps.datasets.folders import folder_declare
from apps.datasets.models import DataFolder, Dataset
from apps.datasets.services import dataset_register
from apps.datasets.signals import registering_done

DEMO_NAMES = {"raw": "Demo 64×64 scan (raw)", "hdf5": "Demo 64×64 scan (HDF5)"}


class Command(BaseCommand):
    help = (
        "Write a synthetic 64x64 scan of 128x128 frames into the first data root, register it "
        "(owned by the local admin) and open its folder to every signed-in user."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="do nothing when the demo dataset is already registered",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_missing"] and Dataset.objects.filter(name__in=DEMO_NAMES.values()).exists():
            self.stdout.write("Demo data is already registered.")
            return
        folder = settings.DATA_ROOTS[0] / "demo"
        self.stdout.write(f"Writing the demo dataset to {folder} ...")
        sidecar, h5 = write_demo(folder)
        _declare_open(folder)
        owner = local_admin_ensure()
        for fmt, path in (("raw", sidecar), ("hdf5", h5)):
            Dataset.objects.filter(name=DEMO_NAMES[fmt], owner=owner).delete()
            ds = dataset_register(owner=owner, name=DEMO_NAMES[fmt], path=str(path), format=fmt)
            self.stdout.write(f"Registered {ds.name}: {ds.nav_shape} x {ds.sig_shape} {ds.dtype}")
        if settings.JOB_RUNNER == "thread":
            self.stdout.write("Making the thumbnails ...")
        registering_done.send(sender=self.__class__)  # their thumbnails may run in this process


def _declare_open(folder: Any) -> None:
    # Every signed-in local user may browse the demo folder; a declaration staff made stays.
    if not DataFolder.objects.filter(path=str(folder.resolve())).exists():
        folder_declare(path=str(folder), open_to_all=True)
