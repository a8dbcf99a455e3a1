"""Which paths are portal pages (no imports: the security headers middleware asks)."""

STATIC_PREFIX = "/static"
PREFIXES = (
    "/sign-",
    "/verify",
    "/forgot-password",
    "/set-password",
    "/doctors",
    "/appointments",
    "/settings",
    "/doctor/",
    "/admin/",
    "/desk",
    STATIC_PREFIX + "/",
)


def is_portal_path(path: str) -> bool:
    return path == "/" or path.startswith(PREFIXES)
