"""``python -m hellodoctor_http`` is the ``hellodoctor`` command."""

from hellodoctor_http.cli import main

main()
