#!/usr/bin/python3
"""Writes the seed inputs of the hdf5 fuzz harness: small HDF5 files, each behind the harness's
option byte (bit 0: nan_policy omit; bits 1-2: which datasets --x/--y name). Run once by hand:
    /usr/bin/python3 tests/fuzz/make_hdf5_seeds.py tests/fuzz/corpus/hdf5
"""
import io
import os
import sys

import h5py
import numpy as np


def file_bytes(fill, libver="earliest"):
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", libver=libver) as f:
        fill(f)
    return buffer.getvalue()


def plain(f):
    f["x"] = np.linspace(0, 1, 5)
    f["y"] = np.array([1.0, 2.0, np.nan, 4.0, 5.0])


def table(f):
    f["table"] = np.arange(12, dtype=np.float64).reshape(4, 3) + 1


def chunked(f):
    g = f.create_group("g")
    g.create_dataset("t", data=np.arange(9, dtype=np.int32), chunks=(4,), compression="gzip", shuffle=True)
    g.create_dataset("v", data=np.arange(9, dtype=np.float32) * 0.5, chunks=(3,), fletcher32=True)


def mixed(f):
    f["x"] = np.arange(4, dtype=np.int16)
    f["y"] = np.ones(4)
    f["names"] = np.array([b"a", b"b"])
    f.attrs["note"] = "seed"


def main(directory):
    os.makedirs(directory, exist_ok=True)
    seeds = {
        "plain": (0x02, file_bytes(plain)),
        "plain_omit_latest": (0x03, file_bytes(plain, "latest")),
        "table": (0x04, file_bytes(table)),
        "chunked": (0x06, file_bytes(chunked, "latest")),
        "mixed": (0x00, file_bytes(mixed)),
    }
    for name, (option, data) in seeds.items():
        with open(os.path.join(directory, "seed_" + name), "wb") as out:
            out.write(bytes([option]) + data)


if __name__ == "__main__":
    main(sys.argv[1])
