"""The site as a whole: the home page, ``/healthz`` and the staff status page, the OpenAPI
document and its view, the job websocket's consumers and routes, and the site-wide commands
(``serve``, ``backup``, ``restore``)."""
