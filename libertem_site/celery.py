"""The Celery application: job driver tasks run in these workers in production."""

from __future__ import annotations

import logging
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "libertem_site.settings")

app = Celery("libertem_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class QuietReaperFilter(logging.Filter):
    """Drops Celery's INFO lines about each reaper pass (beat sent it, the worker received it,
    it succeeded): three lines every ``JOB_REAPER_INTERVAL`` seconds that say nothing. The
    reaper itself logs a warning when a pass changed something."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        text = record.getMessage()
        return "jobs.reap" not in text and "reap-jobs" not in text


for _name in ("celery.beat", "celery.worker.strategy", "celery.app.trace"):
    logging.getLogger(_name).addFilter(QuietReaperFilter())
