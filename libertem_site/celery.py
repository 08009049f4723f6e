"""The Celery application: job driver tasks run in these workers in production."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "libertem_site.settings")

app = Celery("libertem_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
