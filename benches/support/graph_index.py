"""How many of the exact 50 nearest vectors a graph index (HNSW, hnswlib) finds on the
raw-pipe benchmark's store, against the vector index's quick scan (BENCHMARKS.md, session 16).

    pip install numpy hnswlib
    python3 benches/support/graph_index.py STORE.db MODEL_DIR

STORE is a store with the built-in model's vectors, such as the raw-pipe benchmark's
`raw-pipe-100000-vectors-english-built.db` (`MNEMOGRAPH_BENCH_DIR=... cargo bench --bench
raw_pipe -- --reuse --vectors 100000`). MODEL_DIR is the built-in model before its int8
quantisation (`../shared/data/models/m2v-minilm`), to embed the queries: 200 pairs of words
drawn with a fixed seed from the titles of the store's first 5,000 memories, as the NumPy
replicas of the quick scan drew theirs, and 200 stored memories' own vectors. Each set is
reported in two halves of 100. Exact means a full scan of the float vectors; the build is
timed on every core.
"""

import json
import random
import sqlite3
import struct
import sys
import time
from pathlib import Path

import hnswlib
import numpy as np

GRAPHS = [(16, 100), (32, 200)]  # (M, ef_construction)
EFS = [100, 400, 1600]
K = 50


def model(directory):
    raw = (directory / "model.safetensors").read_bytes()
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + size])
    name = next(k for k in header if k != "__metadata__")
    start, end = header[name]["data_offsets"]
    table = np.frombuffer(raw[8 + size + start : 8 + size + end], dtype=np.float16)
    table = table.reshape(header[name]["shape"]).astype(np.float32)
    vocab = json.loads((directory / "tokenizer.json").read_text())["model"]["vocab"]
    return table, vocab


def main(store, model_dir):
    table, vocab = model(Path(model_dir))
    rows = sqlite3.connect(store).execute(
        "SELECT v.embedding, m.title FROM memory_vectors v JOIN memories m ON m.id = v.memory_id"
    ).fetchall()
    vectors = np.stack([np.frombuffer(r[0], dtype=np.float32) for r in rows])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    words = [w for r in rows[:5000] for w in r[1].lower().split() if w.isalpha() and w in vocab]
    draw = random.Random(5)
    pairs = [draw.sample(words, 2) for _ in range(200)]

    def embed(pair):
        v = table[[vocab[w] for w in pair]].mean(0)
        return v / np.linalg.norm(v)

    stored = vectors[np.random.default_rng(7).choice(len(vectors), 200, replace=False)]
    sets = {"two-word queries": np.stack([embed(p) for p in pairs]), "stored memories": stored}
    print(f"{len(vectors)} vectors of {vectors.shape[1]} dimensions")
    for name, queries in sets.items():
        top = np.sort(queries @ vectors.T, axis=1)[:, ::-1]
        print(f"{name}: similarity of the 1st {np.median(top[:, 0]):.3f}, "
              f"50th {np.median(top[:, 49]):.3f}, 2000th {np.median(top[:, 1999]):.3f} (medians)")
    for m, construction in GRAPHS:
        graph = hnswlib.Index(space="ip", dim=vectors.shape[1])
        graph.init_index(max_elements=len(vectors), ef_construction=construction, M=m)
        started = time.time()
        graph.add_items(vectors, np.arange(len(vectors)))
        print(f"M {m}, ef_construction {construction}: built in {time.time() - started:.0f} s")
        graph.set_num_threads(1)
        for name, queries in sets.items():
            exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :K]
            for ef in EFS:
                graph.set_ef(ef)
                started = time.time()
                found, _ = graph.knn_query(queries, k=K)
                ms = (time.time() - started) / len(queries) * 1000
                shares = [len(set(exact[i]) & set(found[i])) / K for i in range(len(queries))]
                halves = " / ".join(f"{np.mean(shares[h:h + 100]):.3f}" for h in (0, 100))
                print(f"  {name}, ef {ef}: {halves} of the exact top {K}, {ms:.2f} ms a query")


if __name__ == "__main__":
    main(*sys.argv[1:])
