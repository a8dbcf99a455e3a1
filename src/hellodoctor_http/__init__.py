"""The Falcon HTTP API and the composition root: ``hellodoctor_http.app.create_app`` wires the
use cases to HTTP, ``hellodoctor_http.app.build`` opens the configured storage, and
``hellodoctor serve`` runs it under gunicorn. Nothing is imported or built here, so the
``hellodoctor db`` commands work without the server extra."""
