"""Serves ``bare_app.py`` exactly as ``hellodoctor serve`` serves the API (bench_http.py's
baseline): the same gunicorn worker class (an event loop per worker, the app in threads behind
``front.Guard``), the same gunicorn options, the same settings from the environment. Only the
WSGI app differs, so the ratio compares apps, not serving stacks.

    python benchmarks/bare_server.py --bind 127.0.0.1:8001 --workers 5
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from hellodoctor_http.config import Settings
from hellodoctor_http.server import HelloDoctorServer, guarded, gunicorn_options


class BareServer(HelloDoctorServer):
    def load(self) -> Any:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bare_app import app

        return guarded(app, self.cfg, self._settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args()
    settings = Settings.from_environ(os.environ)
    BareServer(settings, gunicorn_options(bind=args.bind, workers=args.workers)).run()


if __name__ == "__main__":
    main()
