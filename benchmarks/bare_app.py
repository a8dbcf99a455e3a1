"""The baseline for bench_http.py: a bare Falcon app that reads the same JSON booking body and
answers 201 with a small JSON document, served by gunicorn exactly like the API."""

from __future__ import annotations

import json

import falcon


class Book:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = json.loads(req.bounded_stream.read() or b"{}")
        resp.status = falcon.HTTP_201
        resp.content_type = falcon.MEDIA_JSON
        resp.text = json.dumps({"doctor_id": body.get("doctor_id"), "status": "booked"})


app = falcon.App()
app.add_route("/api/v1/appointments", Book())
