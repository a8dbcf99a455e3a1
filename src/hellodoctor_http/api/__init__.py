"""The API, one module per area: ``doctors``, ``appointments``, ``accounts`` (sign-up, sign-in,
``/me``, two-factor), ``payments`` and ``operations`` (health, readiness, metrics, the
OpenAPI document and its UI). Each holds its resources beside its ``ROUTES`` (paths, resource
classes and their docs), its request bodies (attrs classes, from which the JSON Schemas are
derived) and the JSON it answers, so a URL leads to one file. ``create_app`` mounts every
area's routes.

Resources are plain classes built once per app from an ``Api``; each request is one use-case
call (its own unit of work). Authorisation (role and ownership) is the use cases' job; a
resource only needs to know who is calling.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import falcon
from attrs import define

from hellodoctor_http.auth import TokenCodec
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.converters import read_body
from hellodoctor_http.middleware import Metrics

T = TypeVar("T")


@define(frozen=True)
class Api:
    """What resources are built from: the composition root's components, and this app's own
    metrics, token codec and OpenAPI document."""

    components: Components
    metrics: Metrics
    codec: TokenCodec
    document: Mapping[str, Any]


class Resource:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.components = api.components
        self.settings = api.components.settings

    def body(self, req: falcon.Request, cls: type[T]) -> T:
        """The JSON body as a ``cls`` (422 naming each wrong field), within the size limit."""
        return read_body(req, cls, self.settings.max_body_bytes)
