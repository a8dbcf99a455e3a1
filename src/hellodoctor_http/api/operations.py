"""Operational endpoints: liveness, readiness, metrics, the OpenAPI document and Swagger UI.

Swagger UI's files come from the ``swagger-ui-py`` package's static folder, served from this
origin: the docs work offline and the Content-Security-Policy allows no other origin. The
package's own Python code (and its Jinja templates) is never imported.
"""

from __future__ import annotations

import importlib.util
import json
import mimetypes
from pathlib import Path
from typing import Any

import falcon

from hellodoctor_http.api import Api, Resource
from hellodoctor_http.converters import write_json
from hellodoctor_http.middleware import DOCS_PREFIX
from hellodoctor_http.openapi import JSON, STRING, Operation, Route, answer, path_param
from hellodoctor_http.problems import Problem

SCHEMAS: dict[str, Any] = {"Status": answer(status=STRING)}


class Health(Resource):
    def on_get(self, _req: falcon.Request, resp: falcon.Response) -> None:
        write_json(resp, {"status": "ok"})


class Ready(Resource):
    """Ready when the storage answers; the probe raises (``BackendUnavailable``) when not."""

    def on_get(self, _req: falcon.Request, resp: falcon.Response) -> None:
        try:
            self.components.readiness()
        except Exception as error:
            raise Problem(
                "backend-unavailable",
                "the database does not answer",
                headers={"Retry-After": "5"},
            ) from error
        write_json(resp, {"status": "ready"})


class MetricsResource(Resource):
    def on_get(self, _req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "text/plain; version=0.0.4; charset=utf-8"
        resp.data = self.api.metrics.exposition()


class OpenApiDocument(Resource):
    def __init__(self, api: Api) -> None:
        super().__init__(api)
        self._body = json.dumps(api.document)

    def on_get(self, _req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.text = self._body


def swagger_ui_folder() -> Path:
    """The static folder of swagger-ui-py, found without importing the package."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed (pip install 'hellodoctor[server]')")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


_INDEX = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>HelloDoctor API</title>
<link rel="stylesheet" href="{prefix}/swagger-ui.css">
<link rel="icon" type="image/png" href="{prefix}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{prefix}/swagger-ui-bundle.js"></script>
<script src="{prefix}/swagger-ui-standalone-preset.js"></script>
<script src="{prefix}/init.js"></script>
</body>
</html>
"""

# A file rather than an inline script, so the CSP needs no 'unsafe-inline' for scripts.
_INIT = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  });
};
"""

_SERVED = {
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
    "favicon-16x16.png",
}


class SwaggerUi(Resource):
    def __init__(self, api: Api) -> None:
        super().__init__(api)
        self._folder = swagger_ui_folder()

    def on_get(self, _req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = _INDEX.format(prefix=DOCS_PREFIX)

    def on_get_file(self, _req: falcon.Request, resp: falcon.Response, name: str) -> None:
        if name == "init.js":
            resp.content_type = "text/javascript; charset=utf-8"
            resp.text = _INIT
        elif name in _SERVED:
            path = self._folder / name
            resp.content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            resp.data = path.read_bytes()
        else:
            raise falcon.HTTPNotFound(description=f"no file {name}")
        resp.cache_control = ["public", "max-age=3600"]


ROUTES: tuple[Route, ...] = (
    Route(
        "/healthz",
        Health,
        {"get": Operation("Liveness", "public", "anyone", response="Status", tag="operations")},
    ),
    Route(
        "/readyz",
        Ready,
        {
            "get": Operation(
                "Readiness: the database answers",
                "public",
                "anyone",
                response="Status",
                problems=("backend-unavailable",),
                tag="operations",
            )
        },
    ),
    Route(
        "/metrics",
        MetricsResource,
        {
            "get": Operation(
                "Prometheus metrics",
                "public",
                "anyone (restrict at the proxy)",
                response_type="text/plain",
                tag="operations",
            )
        },
    ),
    Route(
        "/openapi.json",
        OpenApiDocument,
        {
            "get": Operation(
                "This document", "public", "anyone", response_type=JSON, tag="operations"
            )
        },
    ),
    Route(
        DOCS_PREFIX,
        SwaggerUi,
        {
            "get": Operation(
                "Swagger UI", "public", "anyone", response_type="text/html", tag="operations"
            )
        },
    ),
    Route(
        DOCS_PREFIX + "/{name}",
        SwaggerUi,
        {
            "get": Operation(
                "Swagger UI's files",
                "public",
                "anyone",
                response_type="*/*",
                params=(path_param("name", "A file of Swagger UI."),),
                problems=("not-found",),
                tag="operations",
            )
        },
        suffix="file",
    ),
)
