"""The README's access table names every endpoint the app mounts (hellodoctor_http.app.ROUTES,
every API area's routes)."""

from __future__ import annotations

import re
from pathlib import Path

from hellodoctor_http.app import ROUTES

README = Path(__file__).resolve().parents[2] / "README.md"


def _access_table() -> str:
    text = README.read_text()
    start = text.index("| endpoint | who may call it |")
    return text[start : text.index("\n\n", start)]


def _documented(table: str, method: str, path: str) -> bool:
    """``GET /api/v1/doctors/{doctor_id}/slots`` may be written in full (any name in braces)
    or, after its row's first entry, as ``GET .../slots``."""
    pattern = re.escape(path).replace(r"\{", "{").replace(r"\}", "}")
    pattern = re.sub(r"\{[a-z_]+\}", r"\\{[a-z_]+\\}", pattern)
    if re.search(rf"`{method} {pattern}[`?( ]", table):
        return True
    tail = path.rsplit("/", 1)[1]
    if "{" not in tail and re.search(rf"{method} \.\.\./{re.escape(tail)}\b", table):
        return True
    # Operational routes are listed together ("`GET /healthz`, `/readyz`, ..."), and the
    # Swagger UI's static files go with `/api-docs`.
    if not path.startswith("/api/"):
        page = re.sub(r"/\{[a-z_]+\}$", "", path)
        return f"`{page}`" in table or f"{method} {page}`" in table
    return False


def test_every_route_is_in_the_readme_access_table() -> None:
    table = _access_table()
    missing = [
        f"{method.upper()} {route.path}"
        for route in ROUTES
        for method in route.operations
        if not _documented(table, method.upper(), route.path)
    ]
    assert not missing, f"add these to the README's access table: {missing}"


def test_the_check_notices_an_endpoint_missing_from_the_table() -> None:
    table = _access_table()
    assert _documented(table, "GET", "/api/v1/appointments/{appointment_id}")
    assert not _documented(table, "DELETE", "/api/v1/appointments/{appointment_id}")
    assert not _documented(table, "GET", "/api/v1/invoices")
