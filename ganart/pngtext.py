"""Read one text chunk of a PNG without decoding its pixels.

A recipe lives in a text chunk; the image data (IDAT, and every APNG frame's fdAT) is skipped
by seeking, never decompressed, so a 13,000 x 13,000 PNG or a long APNG costs a few reads.
Compressed text is inflated only up to the size a text may have.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_CHUNKS = 100_000
TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")


class PngTextError(ValueError):
    """Not a PNG, or a PNG whose chunk structure is broken."""


def _inflate(data: bytes, max_bytes: int) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, max_bytes + 1)
    except zlib.error as e:
        raise PngTextError(f"a compressed text chunk is corrupt ({e})") from None
    if len(out) > max_bytes:
        raise PngTextError(f"a compressed text chunk inflates past {max_bytes} bytes")
    return out


def _text(ctype: bytes, data: bytes, max_bytes: int) -> tuple[bytes, str]:
    """(keyword, text) of one tEXt / zTXt / iTXt chunk."""
    keyword, sep, rest = data.partition(b"\0")
    if not sep:
        raise PngTextError("a text chunk has no keyword")
    if ctype == b"tEXt":
        return keyword, rest.decode("latin-1")
    if ctype == b"zTXt":
        return keyword, _inflate(rest[1:], max_bytes).decode("latin-1")
    if len(rest) < 2:
        raise PngTextError("an iTXt chunk is cut short")
    compressed, body = rest[0], rest[2:]
    _language, _, body = body.partition(b"\0")
    _translated, _, body = body.partition(b"\0")
    body = _inflate(body, max_bytes) if compressed else body
    try:
        return keyword, body.decode("utf-8")
    except UnicodeDecodeError:
        raise PngTextError("an iTXt chunk is not UTF-8") from None


def read_text(path: str | os.PathLike[str], key: str, max_bytes: int = 1 << 20) -> str | None:
    """The text stored under ``key``, or None when the PNG has none. PngTextError when the file
    is not a PNG or its chunks are broken."""
    want = key.encode("latin-1")
    size = Path(path).stat().st_size
    with open(path, "rb") as f:
        if f.read(8) != SIGNATURE:
            raise PngTextError("not a PNG")
        for _ in range(MAX_CHUNKS):
            header = f.read(8)
            if len(header) < 8:
                raise PngTextError("truncated: no IEND chunk")
            length, ctype = struct.unpack(">I4s", header)
            if length > size - f.tell():
                raise PngTextError(f"a {ctype!r} chunk claims {length} bytes past the end of the file")
            if ctype == b"IEND":
                return None
            if ctype in TEXT_TYPES and length <= max_bytes + len(want) + 16:
                head = f.read(len(want) + 1)  # the keyword first: other chunks are never inflated
                if length >= len(head) and head == want + b"\0":
                    return _text(ctype, head + f.read(length - len(head)), max_bytes)[1]
                f.seek(length - len(head), os.SEEK_CUR)
            else:
                f.seek(length, os.SEEK_CUR)
            f.seek(4, os.SEEK_CUR)  # the chunk's CRC
    raise PngTextError(f"more than {MAX_CHUNKS} chunks")
