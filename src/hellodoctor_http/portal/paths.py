"""Which paths are portal pages (no imports: the security headers middleware asks)."""

STATIC_PREFIX = "/static"
# The portal's document upload form (multipart): its body limit is the API upload route's.
UPLOAD_PATH = "/documents"
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
    "/hospital",
    "/wallet",
    "/waitlist",
    "/records",
    "/documents",
    "/consents",
    "/access-log",
    STATIC_PREFIX + "/",
)


def is_portal_path(path: str) -> bool:
    return path == "/" or path.startswith(PREFIXES)
