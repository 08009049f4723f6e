"""The portal's Django project.

The Celery app (:mod:`libertem_site.celery`) is not imported here: ``celery -A libertem_site``
finds it as the package's ``celery`` module, and the web process imports it when it sends a
job (:func:`apps.jobs.queue.enqueue`, through the ``JOB_QUEUE_APP`` setting). Every other process (``manage.py analyze``, the tests,
dask workers) is spared loading Celery and its broker client at start.
"""
