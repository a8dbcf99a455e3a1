"""The web portal: server-rendered pages (Jinja2, autoescaped; gettext catalogues) at ``/``
over the same use cases as the API. ``routes.mount`` adds them to the app; docs/portal.md."""
