# Load the Celery app with Django so that tasks sent from the web process use its broker.
from libertem_site.celery import app as celery_app

__all__ = ["celery_app"]
