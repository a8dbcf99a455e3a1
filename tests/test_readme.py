"""The README's library example must keep working as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hellodoctor_domain import AppointmentStatus, Money

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_library_example_runs_and_books() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    scheduling: Any = namespace["scheduling"]
    booked: Any = namespace["appointment"]
    stored = scheduling.appointment(namespace["grace"], booked.id)
    assert stored.status is AppointmentStatus.CANCELLED
    assert stored.cancellation.refund == Money(8000, "GBP")  # two days ahead: in full
