-- mnemograph schema, migration 6: a local store's insert runs two trigger statements instead
-- of five, and a bulk writer indexes its new memories' full text once, at its end.
--
-- 1. Migration 5's insert trigger ran all five of its statements for every memory, the three
--    that fill a replicated store's tail included: each opened its cursors and computed its
--    subqueries (one a window function) to find it had nothing to do. That took import from
--    19k to 14k memories/s. The insert now has two triggers, chosen by `batch` alone: local
--    stores index and log the memory at once; replicated stores run migration 5's statements
--    unchanged. No trigger changes `batch`, so neither trigger's choice depends on which of
--    the two fires first (SQLite does not promise an order).
-- 2. `held_above`: while set, memories above it are not indexed as they are inserted. A bulk
--    writer (import, `create_many`) sets it in its transaction on a local store, inserts, then
--    indexes and logs all its new memories in one statement each and clears it before
--    committing (`src/backend/libsql/held.rs`), so no other connection ever sees it set.
--    Each statement inside a transaction opens a savepoint, at which FTS5 writes out the
--    terms it holds: per-row indexing wrote a segment per insert statement and spent the
--    batch merging them.
--
-- Invariant (migration 4's, amended): a memory is in `memories_fts` exactly when `batch` is 0
-- or its `seq` is at most `indexed_upto`, and `held_above` is NULL or its `seq` is at most
-- `held_above`. Committed states always have `held_above` NULL.

ALTER TABLE fts_state ADD COLUMN held_above INTEGER;

DROP TRIGGER memories_fts_ai;
DROP TRIGGER memories_fts_ad;
DROP TRIGGER memories_fts_au;

CREATE TRIGGER memories_fts_ai AFTER INSERT ON memories
WHEN (SELECT batch = 0 AND held_above IS NULL FROM fts_state)
BEGIN
    INSERT INTO memories_fts (rowid, title, content, tags)
        VALUES (new.seq, new.title, new.content, new.tags);
    INSERT INTO fts_log (seq, memory_seq) SELECT seq, new.seq FROM fts_log_next_seq;
END;
-- Migration 5's statements, for stores that index in batches (which never hold).
CREATE TRIGGER memories_fts_tail_ai AFTER INSERT ON memories
WHEN (SELECT batch > 0 FROM fts_state)
BEGIN
    INSERT INTO memories_fts (rowid, title, content, tags)
        SELECT new.seq, new.title, new.content, new.tags FROM fts_state
        WHERE new.seq <= indexed_upto;
    INSERT INTO fts_log (seq, memory_seq)
        SELECT n.seq, new.seq FROM fts_log_next_seq n, fts_state
        WHERE new.seq <= indexed_upto;
    INSERT INTO memories_fts (rowid, title, content, tags)
        SELECT seq, title, content, tags FROM memories
        WHERE seq > (SELECT indexed_upto FROM fts_state
                     WHERE new.seq - indexed_upto >= batch);
    INSERT INTO fts_log (seq, memory_seq)
        SELECT n.seq + row_number() OVER (ORDER BY m.seq) - 1, m.seq
        FROM memories m, fts_log_next_seq n
        WHERE m.seq > (SELECT indexed_upto FROM fts_state
                       WHERE new.seq - indexed_upto >= batch);
    UPDATE fts_state SET indexed_upto = (SELECT max(seq) FROM memories)
        WHERE new.seq - indexed_upto >= batch;
END;
CREATE TRIGGER memories_fts_ad AFTER DELETE ON memories
WHEN (SELECT (batch = 0 OR old.seq <= indexed_upto) AND old.seq <= coalesce(held_above, old.seq)
      FROM fts_state)
BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, title, content, tags)
        VALUES ('delete', old.seq, old.title, old.content, old.tags);
    INSERT INTO fts_log (seq, memory_seq) SELECT seq, old.seq FROM fts_log_next_seq;
END;
CREATE TRIGGER memories_fts_au AFTER UPDATE OF title, content, tags ON memories
WHEN (SELECT (batch = 0 OR old.seq <= indexed_upto) AND old.seq <= coalesce(held_above, old.seq)
      FROM fts_state)
BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, title, content, tags)
        VALUES ('delete', old.seq, old.title, old.content, old.tags);
    INSERT INTO memories_fts (rowid, title, content, tags)
        VALUES (new.seq, new.title, new.content, new.tags);
    INSERT INTO fts_log (seq, memory_seq) SELECT seq, new.seq FROM fts_log_next_seq;
END;
