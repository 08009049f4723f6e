"""The site's HTTP conventions, shared by every app's views (a library package, no models).

``api`` (the ``api_view`` decorator, JSON bodies and their depth check, the JSON error format),
``errors`` (the ``handler400`` ... ``handler500`` views: JSON on ``/api/`` paths) and ``ids`` (row
ids as they arrive in requests, and the ``<id:…>`` path converter). It imports only Django and
``apps.core``.
"""
