"""Driver errors that are neither an outage nor a conflict the ports name: bugs.

Storage adapters translate a lost or refused connection (and a lock or statement timeout) into
``BackendUnavailable``, and a violated uniqueness, overlap or balance rule into its port error.
Anything else the database refuses means this code sent something it should not have (a value
the domain let through that a column cannot hold, a query the schema does not match). These are
deliberately *not* port errors: callers do not catch them, so an entry point answers them as
the bug they are (HTTP 500 with the request id, and a logged traceback), never as "the database
is down, retry later".
"""

from __future__ import annotations


class UnexpectedStorageError(RuntimeError):
    """The database refused a statement for a reason no port error describes: a bug."""


class StoredValueRejected(UnexpectedStorageError, ValueError):
    """The database cannot hold a value it was given (a NUL character in a PostgreSQL string, a
    number beyond its column, an invalid date): the boundary should have refused it."""
