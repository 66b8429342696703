-- mnemograph schema, migration 4: a replicated store indexes new memories' full text in
-- batches, since every page a write dirties is one 4 KiB frame each replica pulls.
--
-- Indexing one memory writes at least four FTS5 b-trees (the structure record, a new
-- segment, the segment index, the document sizes): five of the ~12 pages a create cost.
-- Indexing 32 memories at once writes about the same pages as indexing one. So on a store
-- whose writes replicate, a new memory waits in the *tail* (`seq` above `indexed_upto`)
-- until the tail holds `batch` memories; the insert that fills it indexes the whole tail.
-- Keyword search reads the tail directly (at most `batch` rows) and ranks it with the
-- index's own BM25 statistics (`src/backend/libsql/tail.rs`), so a memory is found the
-- moment it is written either way.
--
-- `batch` 0 indexes every memory as it is written: local stores, whose pages go nowhere,
-- keep that. The backend sets a batch when it opens a store through a primary.
--
-- Invariant: a memory is in `memories_fts` exactly when `batch` is 0 or its `seq` is at most
-- `indexed_upto`. The triggers below keep it: a tail memory is neither deleted from nor
-- re-indexed in the index when it changes; the batch indexes it as it is then.

CREATE TABLE fts_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    batch        INTEGER NOT NULL CHECK (batch >= 0),
    indexed_upto INTEGER NOT NULL
);
INSERT INTO fts_state (id, batch, indexed_upto)
    VALUES (1, 0, (SELECT coalesce(max(seq), 0) FROM memories));

DROP TRIGGER memories_fts_ai;
DROP TRIGGER memories_fts_ad;
DROP TRIGGER memories_fts_au;

-- One trigger, so its statements run in this order: a memory at or below the tail's start (a
-- row number freed by a delete and used again) is indexed at once; the insert that fills the
-- tail indexes all of it, this memory included.
CREATE TRIGGER memories_fts_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, title, content, tags)
        SELECT new.seq, new.title, new.content, new.tags FROM fts_state
        WHERE batch = 0 OR new.seq <= indexed_upto;
    INSERT INTO memories_fts (rowid, title, content, tags)
        SELECT seq, title, content, tags FROM memories
        WHERE seq > (SELECT indexed_upto FROM fts_state
                     WHERE batch > 0 AND new.seq - indexed_upto >= batch);
    UPDATE fts_state SET indexed_upto = (SELECT max(seq) FROM memories)
        WHERE batch > 0 AND new.seq - indexed_upto >= batch;
END;
CREATE TRIGGER memories_fts_ad AFTER DELETE ON memories
WHEN (SELECT batch = 0 OR old.seq <= indexed_upto FROM fts_state)
BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, title, content, tags)
        VALUES ('delete', old.seq, old.title, old.content, old.tags);
END;
CREATE TRIGGER memories_fts_au AFTER UPDATE OF title, content, tags ON memories
WHEN (SELECT batch = 0 OR old.seq <= indexed_upto FROM fts_state)
BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, title, content, tags)
        VALUES ('delete', old.seq, old.title, old.content, old.tags);
    INSERT INTO memories_fts (rowid, title, content, tags)
        VALUES (new.seq, new.title, new.content, new.tags);
END;
