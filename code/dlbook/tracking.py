"""Read the records of a Weights & Biases run file (``run-<id>.wandb``).

An offline W&B run (``wandb.init(mode="offline")``) keeps everything it logs
in one binary file, ``wandb/offline-run-<time>-<id>/run-<id>.wandb``, which
``wandb sync`` uploads later. wandb 0.31 ships no Python reader for it (the
old ``wandb.sdk.internal.datastore`` was removed; the file is now written and
read by the Go service ``wandb-core``), so :func:`read_wandb_records` undoes
the file's framing here. Each record it returns is one serialized
``wandb.proto.wandb_internal_pb2.Record`` protobuf: decode it with
``Record.FromString``. This module needs only the standard library.

The framing is LevelDB's log format with a W&B header: the file starts with
the 7 bytes ``b":W&B"``, the identifier ``0xBEE1`` (little-endian) and the
version ``0``; then come blocks of 32 KiB. Every chunk has a 7-byte header
(CRC-32 of the type byte and the payload, payload length, both
little-endian, and the type: 1 full, 2 first, 3 middle, 4 last) and a record
longer than what is left of a block is split into first/middle/last chunks.
A block tail shorter than a chunk header is zero padding.
"""

from __future__ import annotations

import os
import struct
import zlib

__all__ = ["WANDB_BLOCK_SIZE", "WANDB_HEADER", "read_wandb_records"]

WANDB_HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
"""The first 7 bytes of a ``.wandb`` file (magic, identifier, version 0)."""

WANDB_BLOCK_SIZE = 32768
"""The size of a block of the log format, in bytes."""

_CHUNK = struct.Struct("<IHB")  # checksum, length, type
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def read_wandb_records(path: str | os.PathLike[str]) -> list[bytes]:
    """The records of a ``.wandb`` file, in the order they were written.

    Each item is the payload of one record: a serialized
    ``wandb_internal_pb2.Record``. Chunk checksums are verified.

    Raises:
        TypeError: ``path`` is not a string or path-like.
        ValueError: the file does not start with the W&B header, a chunk's
            checksum does not match, a chunk has an unknown type or runs past
            the end of the file, or a split record is interrupted.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path must be a str or os.PathLike, got {type(path).__name__}"
        )
    with open(path, "rb") as file:
        data = file.read()
    if data[: len(WANDB_HEADER)] != WANDB_HEADER:
        raise ValueError(f"path {os.fspath(path)!r} is not a W&B run file")
    records: list[bytes] = []
    pending: list[bytes] | None = None  # the chunks of a split record
    pos = len(WANDB_HEADER)
    while pos < len(data):
        left = WANDB_BLOCK_SIZE - pos % WANDB_BLOCK_SIZE
        if left < _CHUNK.size:  # zero padding at the end of a block
            pos += left
            continue
        if pos + _CHUNK.size > len(data):
            raise ValueError(f"truncated chunk header at byte {pos}")
        at = pos
        checksum, length, kind = _CHUNK.unpack_from(data, at)
        start = at + _CHUNK.size
        payload = data[start : start + length]
        if len(payload) != length:
            raise ValueError(f"truncated chunk at byte {at}")
        if zlib.crc32(bytes([kind]) + payload) != checksum:
            raise ValueError(f"checksum mismatch in the chunk at byte {at}")
        pos = start + length
        if kind == _FULL and pending is None:
            records.append(payload)
        elif kind == _FIRST and pending is None:
            pending = [payload]
        elif kind in (_MIDDLE, _LAST) and pending is not None:
            pending.append(payload)
            if kind == _LAST:
                records.append(b"".join(pending))
                pending = None
        else:
            raise ValueError(f"unexpected chunk type {kind} at byte {at}")
    if pending is not None:
        raise ValueError("the file ends inside a split record")
    return records
