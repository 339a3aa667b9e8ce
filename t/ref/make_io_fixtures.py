#!/usr/bin/python3
"""t/ref/make_io_fixtures.py — reference files for t/t-io, written by other code than seqlab's.

Writes (into t/data/, next to this script's parent):
  io_ref.safetensors  tensors of every dtype seqlab knows, plus __metadata__
  io_ref.npy          float32 (2, 3, 4), written by numpy.save (format 1.0)
  io_ref_v2.npy       int64 (3, 2), written by numpy.lib.format.write_array, format 2.0

Run with Debian's python:  /usr/bin/python3 t/ref/make_io_fixtures.py
Needs python3-numpy. Debian (bookworm) packages no python3-safetensors, and numpy has no
bfloat16 dtype for safetensors.numpy anyway, so the safetensors file comes from the small writer
below, which follows the published format: u64 little-endian header size N, N bytes of JSON
header (space-padded to a multiple of 8), then the data block. The data is laid out the way the
reference implementation lays it out (by dtype size, largest first, then by name) while the
header lists the tensors alphabetically, so the reader has to follow data_offsets rather than
assume header order. The expected values are repeated in t/t-io.c; change both together.
"""
import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")


def bf16_bits(values):
    """float32 -> bfloat16 bit patterns; the values below are exact in bf16, so truncation is exact."""
    f = np.asarray(values, dtype=np.float32)
    bits = (f.view(np.uint32) >> 16).astype(np.uint16)
    assert np.array_equal((bits.astype(np.uint32) << 16).view(np.float32), f), "value not exact in bf16"
    return bits


def tensors():
    return {
        "a.f32": ("F32", np.array([[-1.0, -0.5, 0.0], [0.5, 1.0, 1.5]], dtype=np.float32)),
        "b.f64": ("F64", np.array([np.pi, -np.e, 1e-3, 12345.678], dtype=np.float64)),
        # 1, -2.5, smallest normal 2^-14, smallest subnormal 2^-24, largest 65504
        "c.f16": ("F16", np.array([1.0, -2.5, 2.0**-14, 2.0**-24, 65504.0], dtype=np.float16)),
        "d.bf16": ("BF16", bf16_bits([1.0, -3.0, 0.15625, 2.0**100])),
        "e.i32": ("I32", np.array([[-1, 2147483647], [-2147483648, 7]], dtype=np.int32)),
        "f.i64": ("I64", np.array([-9007199254740993, 9223372036854775807, 0], dtype=np.int64)),
        "g.u8": ("U8", np.array([0, 128, 255], dtype=np.uint8)),
        "h.bool": ("BOOL", np.array([True, False, True], dtype=np.bool_)),
        "i.i8": ("I8", np.array([-128, 0, 127], dtype=np.int8)),
        "j.i16": ("I16", np.array([-32768, 1234, 32767], dtype=np.int16)),
        "k.scalar": ("F32", np.array(42.0, dtype=np.float32)),   # 0-d
        "l.empty": ("F32", np.zeros((0, 3), dtype=np.float32)),  # no elements
    }


METADATA = {"format": "pt", "source": "t/ref/make_io_fixtures.py"}
SIZES = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "I16": 2, "U8": 1, "I8": 1, "BOOL": 1}


def write_safetensors_by_hand(path, ts, metadata):
    # data order: largest element size first, then name (as the reference serializer does)
    order = sorted(ts, key=lambda name: (-SIZES[ts[name][0]], name))
    info, blobs, offset = {}, [], 0
    for name in order:
        dtype, arr = ts[name]
        blob = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        info[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header = {"__metadata__": metadata}
    for name in sorted(ts):   # header order differs from data order on purpose
        header[name] = info[name]
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    os.makedirs(DATA, exist_ok=True)
    ts = tensors()
    path = os.path.join(DATA, "io_ref.safetensors")
    write_safetensors_by_hand(path, ts, METADATA)

    a = (np.arange(24, dtype=np.float32) / 8 - 1).reshape(2, 3, 4)
    np.save(os.path.join(DATA, "io_ref.npy"), a)

    b = np.array([[-9007199254740993, 1], [2, 3], [9223372036854775807, -9223372036854775808]], dtype=np.int64)
    with open(os.path.join(DATA, "io_ref_v2.npy"), "wb") as f:
        np.lib.format.write_array(f, b, version=(2, 0))
    print("wrote io_ref.safetensors, io_ref.npy, io_ref_v2.npy in", os.path.normpath(DATA))


if __name__ == "__main__":
    main()
