#!/usr/bin/env python3
"""Makes the built-in model from a Model2Vec model directory: int8 embeddings with one scale
per row, stored as the row's token weight (model2vec-rs multiplies each row by its weight
when pooling), so the mean-pooled, normalised output matches the original within rounding.

    python3 model/quantize.py ../shared/data/models/m2v-minilm model/m2v-minilm-int8

Standard library only. Reads `model.safetensors` (F16 or F32 `embeddings`), copies
`tokenizer.json` and writes `config.json` with `embedding_dtype` int8.
"""

import json
import shutil
import struct
import sys
from array import array
from pathlib import Path


def read_safetensors(path):
    data = path.read_bytes()
    (size,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8 : 8 + size])
    return header, memoryview(data)[8 + size :]


def write_safetensors(path, tensors):
    """`tensors`: name -> (dtype, shape, bytes), written in the given order."""
    header, offset, blobs = {}, 0, []
    for name, (dtype, shape, blob) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with path.open("wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for blob in blobs:
            out.write(blob)


def main(source, target):
    source, target = Path(source), Path(target)
    header, body = read_safetensors(source / "model.safetensors")
    meta = header["embeddings"]
    rows, dim = meta["shape"]
    start, end = meta["data_offsets"]
    fmt = {"F16": "e", "F32": "f"}[meta["dtype"]]
    values = struct.unpack(f"<{rows * dim}{fmt}", body[start:end])
    quantized, scales = array("b"), array("f")
    for row in range(rows):
        chunk = values[row * dim : (row + 1) * dim]
        scale = max(abs(v) for v in chunk) / 127 or 1.0
        quantized.extend(max(-127, min(127, round(v / scale))) for v in chunk)
        scales.append(scale)
    if sys.byteorder != "little":
        scales.byteswap()
    target.mkdir(parents=True, exist_ok=True)
    write_safetensors(
        target / "model.safetensors",
        {
            "embeddings": ("I8", [rows, dim], quantized.tobytes()),
            "weights": ("F32", [rows], scales.tobytes()),
        },
    )
    config = json.loads((source / "config.json").read_text())
    config["embedding_dtype"] = "int8"
    (target / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    shutil.copyfile(source / "tokenizer.json", target / "tokenizer.json")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
