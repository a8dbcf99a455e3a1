"""The Falcon HTTP API and the composition root: ``hellodoctor_http.bootstrap`` builds
everything from the settings, ``hellodoctor_http.app.create_app`` wires it to HTTP, and
``hellodoctor serve`` runs it under gunicorn. Nothing is imported or built here, so the
``hellodoctor db`` commands work without the server extra."""
