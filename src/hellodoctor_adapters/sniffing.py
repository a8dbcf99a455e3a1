"""The media-type sniffer: what a file is by its first bytes (``filetype``'s magic numbers,
which know PDF, PNG, JPEG, WebP and DICOM's ``DICM`` at offset 128)."""

from __future__ import annotations

import filetype


class FiletypeSniffer:
    def sniff(self, head: bytes) -> str | None:
        found = filetype.guess(head)
        return None if found is None else str(found.mime)
