"""Small files of each kind the upload rules judge, built by hand (magic numbers and all): the
accepted types, and look-alikes that must be refused."""

from __future__ import annotations

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02" + b"\0" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\0" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00" + b"\0" * 64
# DICOM Part 10: a 128-byte preamble, then "DICM".
DICOM = b"\0" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00" + b"\0" * 64
# A Windows executable ("MZ"), whatever name or type it is sent under.
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\0" * 64
TEXT = b"just some text, not a document we accept\n" * 4


def pdf_of_size(size: int) -> bytes:
    """A PDF-looking file of exactly ``size`` bytes."""
    return (PDF + b"%" * size)[:size] if size >= len(PDF) else PDF[:size]
