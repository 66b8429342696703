"""Hybrid search's top-10 lists from two builds of `mnemograph` over copies of one store,
compared: how many of the 300 lists are identical, and how many hits the lists share.

    python3 benches/support/hybrid_hits.py STORE.db OLD_MNEMOGRAPH NEW_MNEMOGRAPH

For a change that trades exactness for speed in hybrid search (BENCHMARKS.md, session 12).
STORE is a store with the built-in model's vectors, such as the raw-pipe benchmark's
`raw-pipe-100000-vectors-english-built.db` (`MNEMOGRAPH_BENCH_DIR=... cargo bench --bench
raw_pipe -- --reuse --vectors 100000`); each server gets a copy of it beside it. Queries are
two words of the built-in model's vocabulary, as the raw-pipe benchmark's are, drawn with a
fixed seed. Standard library only.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

TOKENIZER = Path(__file__).resolve().parents[2] / "model/m2v-minilm-int8/tokenizer.json"
QUERIES = 300


def queries():
    vocab = json.loads(TOKENIZER.read_text())["model"]["vocab"]
    words = sorted((i, w) for w, i in vocab.items()
                   if len(w) >= 3 and w.isascii() and w.isalpha() and w.islower())
    words = [w for _, w in words[:8000]]
    rng = random.Random(3)
    return [" ".join(rng.sample(words, 2)) for _ in range(QUERIES)]


def top_tens(exe, store, copy, asked):
    for ext in ["", "-wal"]:
        if os.path.exists(store + ext):
            shutil.copy(store + ext, copy + ext)
    server = subprocess.Popen([exe, "--db", copy], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True,
                              env=dict(os.environ, MNEMOGRAPH_EMBEDDER="model2vec"))

    def call(i, method, params):
        server.stdin.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": method,
                                       "params": params}) + "\n")
        server.stdin.flush()
        while True:
            answer = json.loads(server.stdout.readline())
            if answer.get("id") == i:
                return answer

    def search(i, query):
        return call(i, "tools/call", {"name": "search_memories", "arguments": {
            "query": query, "mode": "hybrid", "limit": 10}})["result"]

    call(0, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "hybrid_hits", "version": "1"}})
    server.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
    while search(1, "ready").get("isError"):  # the embedder is still loading
        time.sleep(0.2)
    lists = [[hit["id"] for hit in search(k + 2, q)["structuredContent"]["hits"]]
             for k, q in enumerate(asked)]
    server.stdin.close()
    server.wait()
    for ext in ["", "-wal", "-shm"]:
        if os.path.exists(copy + ext):
            os.remove(copy + ext)
    return lists


def main():
    store, old, new = sys.argv[1:4]
    asked = queries()
    before = top_tens(old, store, store + ".old-copy", asked)
    after = top_tens(new, store, store + ".new-copy", asked)
    same = sum(a == b for a, b in zip(before, after))
    shared = sum(len(set(a) & set(b)) for a, b in zip(before, after))
    print(f"{len(asked)} queries: {same} top-10 lists identical, "
          f"{shared / sum(map(len, before)):.4f} of the hits shared")


if __name__ == "__main__":
    main()
