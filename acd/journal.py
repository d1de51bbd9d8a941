"""The journal's record format, sans-I/O: bytes in, records out.

Every record is a msgpack map, framed as::

    length (4 bytes, big-endian) | CRC-32 of the payload (4 bytes) | payload

so a reader can tell a whole record from a torn one (a crash in the middle
of a write) or a damaged one (a bad disk block): :func:`read` returns the
records up to the first frame that is short or fails its checksum, and the
byte length that is good; the caller truncates the rest. Records are plain
data (``acd.codec`` turns commands into maps), so the same bytes can live in
a file or in a Redis stream.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any, Protocol

import msgpack

_HEAD = struct.Struct(">II")


class Journal(Protocol):
    """Where the adapters put what must survive a restart: ``append`` one
    record (a map of plain data), written before any effect of it runs."""

    def append(self, record: dict[str, Any]) -> None: ...


MAX_RECORD = 64 * 1024 * 1024  # a length beyond this is damage, not a record
MAX_SNAPSHOT = 2**32 - 1  # the frame's length field: a snapshot of a very large centre


def frame(record: dict[str, Any]) -> bytes:
    """One record, framed. O(size)."""
    payload: bytes = msgpack.packb(record, use_bin_type=True)
    return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def read(data: bytes | memoryview, max_record: int = MAX_RECORD) -> tuple[list[dict[str, Any]], int]:
    """The whole, intact records at the start of ``data`` and how many bytes
    they take; reading stops at the first torn or damaged frame (or one
    longer than ``max_record``: a snapshot is read with a larger bound). O(size)."""
    view = memoryview(data)
    out: list[dict[str, Any]] = []
    pos = 0
    while pos + _HEAD.size <= len(view):
        length, crc = _HEAD.unpack_from(view, pos)
        end = pos + _HEAD.size + length
        if length > max_record or end > len(view):
            break
        payload = view[pos + _HEAD.size : end]
        if zlib.crc32(payload) != crc:
            break
        try:
            record = msgpack.unpackb(payload, raw=False, strict_map_key=False)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            break
        if not isinstance(record, dict):
            break
        out.append(record)
        pos = end
    return out, pos


def intact_length(data: bytes | memoryview) -> int:
    """How many bytes at the start of ``data`` are whole frames with good
    checksums, without decoding them: what ``read`` would keep, at the cost
    of the checksums alone (for cutting a torn tail). O(size)."""
    view = memoryview(data)
    pos = 0
    while pos + _HEAD.size <= len(view):
        length, crc = _HEAD.unpack_from(view, pos)
        end = pos + _HEAD.size + length
        if length > MAX_RECORD or end > len(view) or zlib.crc32(view[pos + _HEAD.size : end]) != crc:
            break
        pos = end
    return pos
