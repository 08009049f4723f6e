"""What the catalogue announces to the apps above it (which it must not import).

``dataset_registered`` is sent inside the transaction that registered ``dataset`` (apps.jobs
queues its thumbnails on commit).
``dataset_shared`` is sent inside the transaction that changed a dataset's groups, with
``dataset``: whoever lost sight of it must lose its jobs too (``apps.jobs`` receives it).

``dataset_deleted`` is sent after a dataset's row was deleted, with ``dataset`` (the deleted
instance, its path and placement still set): its ingested copies on the nodes go too
(``apps.jobs`` receives it). A receiver returns sentences for what it could not remove.

``registering_done`` is sent by a command that registered datasets, before it returns: work the
registrations started in this process (their thumbnail jobs, on the embedded default) must
end before the process does (``apps.jobs`` receives it and waits for its jobs).
"""

from __future__ import annotations

from django.dispatch import Signal

dataset_registered = Signal()
dataset_shared = Signal()
dataset_deleted = Signal()
registering_done = Signal()
