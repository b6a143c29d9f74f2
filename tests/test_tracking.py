"""Tests for dlbook.tracking: the reader of W&B run files."""

from __future__ import annotations

import json
import os
import pathlib
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlbook.tracking import (
    WANDB_BLOCK_SIZE,
    WANDB_HEADER,
    read_wandb_records,
)


def _chunk(kind: int, payload: bytes) -> bytes:
    checksum = zlib.crc32(bytes([kind]) + payload)
    return struct.pack("<IHB", checksum, len(payload), kind) + payload


def _write(records: list[bytes]) -> bytes:
    """LevelDB's log writer (with the W&B header), written from its spec."""
    out = bytearray(WANDB_HEADER)
    for record in records:
        rest, first = record, True
        while True:
            left = WANDB_BLOCK_SIZE - len(out) % WANDB_BLOCK_SIZE
            if left < 7:
                out += bytes(left)
                continue
            piece, rest = rest[: left - 7], rest[left - 7 :]
            if first and not rest:
                kind = 1
            elif first:
                kind = 2
            elif rest:
                kind = 3
            else:
                kind = 4
            out += _chunk(kind, piece)
            first = False
            if not rest:
                break
    return bytes(out)


def _file(tmp_path: pathlib.Path, data: bytes) -> pathlib.Path:
    path = tmp_path / "run.wandb"
    path.write_bytes(data)
    return path


def test_empty_file_has_no_records(tmp_path):
    assert read_wandb_records(_file(tmp_path, WANDB_HEADER)) == []


def test_records_split_across_blocks_and_padding(tmp_path):
    # the first record leaves 3 bytes in the block: they are padding
    first = b"a" * (WANDB_BLOCK_SIZE - len(WANDB_HEADER) - 7 - 3)
    records = [first, b"b" * (3 * WANDB_BLOCK_SIZE), b"", b"c"]
    data = _write(records)
    assert data[WANDB_BLOCK_SIZE - 3 : WANDB_BLOCK_SIZE] == bytes(3)
    assert read_wandb_records(_file(tmp_path, data)) == records
    assert read_wandb_records(str(_file(tmp_path, data))) == records


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 3 * WANDB_BLOCK_SIZE), max_size=6))
def test_round_trip(tmp_path_factory, sizes):
    records = [bytes([i % 251]) * n for i, n in enumerate(sizes)]
    path = _file(tmp_path_factory.mktemp("rt"), _write(records))
    assert read_wandb_records(path) == records


def test_bad_header(tmp_path):
    with pytest.raises(ValueError, match="not a W&B run file"):
        read_wandb_records(_file(tmp_path, b"not a run file"))


def test_checksum_mismatch(tmp_path):
    data = bytearray(_write([b"hello"]))
    data[-1] ^= 1
    with pytest.raises(ValueError, match="checksum"):
        read_wandb_records(_file(tmp_path, bytes(data)))


def test_truncated(tmp_path):
    data = _write([b"hello"])
    with pytest.raises(ValueError, match="truncated chunk at"):
        read_wandb_records(_file(tmp_path, data[:-2]))
    with pytest.raises(ValueError, match="truncated chunk header"):
        read_wandb_records(_file(tmp_path, data + b"\x00\x01"))


def test_interrupted_split_record(tmp_path):
    data = WANDB_HEADER + _chunk(2, b"first half")
    with pytest.raises(ValueError, match="ends inside a split record"):
        read_wandb_records(_file(tmp_path, data))
    data = WANDB_HEADER + _chunk(2, b"first") + _chunk(1, b"full")
    with pytest.raises(ValueError, match="unexpected chunk type 1"):
        read_wandb_records(_file(tmp_path, data))
    data = WANDB_HEADER + _chunk(4, b"last")
    with pytest.raises(ValueError, match="unexpected chunk type 4"):
        read_wandb_records(_file(tmp_path, data))
    data = WANDB_HEADER + _chunk(9, b"?")
    with pytest.raises(ValueError, match="unexpected chunk type 9"):
        read_wandb_records(_file(tmp_path, data))


def test_path_type():
    with pytest.raises(TypeError, match="path must be"):
        read_wandb_records(3)  # type: ignore[arg-type]


def test_real_offline_run(tmp_path, monkeypatch):
    """A file written by wandb-core itself: config, history, split records."""
    wandb = pytest.importorskip("wandb")
    from wandb.proto import wandb_internal_pb2

    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_MODE", "offline")
    values = [i / 7 for i in range(200)]
    run = wandb.init(
        mode="offline",
        dir=tmp_path,
        project="test",
        config={"lr": 0.1, "blob": "x" * (2 * WANDB_BLOCK_SIZE)},
        settings=wandb.Settings(
            console="off", x_disable_stats=True, save_code=False
        ),
    )
    for value in values:
        run.log({"loss": value})
    run.finish()
    wandb.teardown()
    (path,) = tmp_path.glob("wandb/offline-run-*/run-*.wandb")
    assert os.path.getsize(path) > 2 * WANDB_BLOCK_SIZE
    records = [
        wandb_internal_pb2.Record.FromString(r)
        for r in read_wandb_records(path)
    ]
    kinds = [r.WhichOneof("record_type") for r in records]
    assert kinds[0] == "header" and kinds[-1] == "exit"
    config = {
        u.key: json.loads(u.value_json)
        for r in records
        if r.WhichOneof("record_type") == "run"
        for u in r.run.config.update
    }
    assert config["lr"] == 0.1 and len(config["blob"]) == 2 * WANDB_BLOCK_SIZE
    logged = [
        json.loads(item.value_json)
        for r in records
        if r.WhichOneof("record_type") == "history"
        for item in r.history.item
        if (item.key or "/".join(item.nested_key)) == "loss"
    ]
    assert logged == values
