-- mnemograph schema, migration 5: a log of the rows the full-text index gains, loses or has
-- re-indexed, which the in-process keyword index follows (`src/backend/libsql/postings.rs`) as
-- the vector index follows `vector_log`.
--
-- Each entry names a memory's row (`memories.seq`, the index's rowid) whose indexed text
-- changed; the reader reads that row again (gone, or its text as indexed now). The entries are
-- written by the triggers that write the index, in the same statements' transaction, so no
-- process or device can change the index without logging it. Numbering and pruning are
-- `vector_log`'s (migration 3): above the newest entry and the floor, so a number is never
-- reused, and a reader further behind than the floor loads the whole index again.

CREATE TABLE fts_log (
    seq        INTEGER PRIMARY KEY,
    memory_seq INTEGER NOT NULL
);

CREATE VIEW fts_log_next_seq (seq) AS SELECT max(
    coalesce((SELECT max(seq) FROM fts_log), 0),
    coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'fts_log_floor'), 0)) + 1;

CREATE TRIGGER fts_log_prune AFTER INSERT ON fts_log WHEN new.seq % 4096 = 0 BEGIN
    DELETE FROM fts_log WHERE seq <= new.seq - 65536;
    INSERT OR REPLACE INTO meta (key, value) VALUES ('fts_log_floor', new.seq - 65536);
END;

DROP TRIGGER memories_fts_ai;
DROP TRIGGER memories_fts_ad;
DROP TRIGGER memories_fts_au;

-- Migration 4's triggers, each logging the rows it writes to the index. The batch that fills
-- the tail logs every row it indexes, numbered in row order, before `indexed_upto` moves.
CREATE TRIGGER memories_fts_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, title, content, tags)
        SELECT new.seq, new.title, new.content, new.tags FROM fts_state
        WHERE batch = 0 OR new.seq <= indexed_upto;
    INSERT INTO fts_log (seq, memory_seq)
        SELECT n.seq, new.seq FROM fts_log_next_seq n, fts_state
        WHERE batch = 0 OR new.seq <= indexed_upto;
    INSERT INTO memories_fts (rowid, title, content, tags)
        SELECT seq, title, content, tags FROM memories
        WHERE seq > (SELECT indexed_upto FROM fts_state
                     WHERE batch > 0 AND new.seq - indexed_upto >= batch);
    INSERT INTO fts_log (seq, memory_seq)
        SELECT n.seq + row_number() OVER (ORDER BY m.seq) - 1, m.seq
        FROM memories m, fts_log_next_seq n
        WHERE m.seq > (SELECT indexed_upto FROM fts_state
                       WHERE batch > 0 AND new.seq - indexed_upto >= batch);
    UPDATE fts_state SET indexed_upto = (SELECT max(seq) FROM memories)
        WHERE batch > 0 AND new.seq - indexed_upto >= batch;
END;
CREATE TRIGGER memories_fts_ad AFTER DELETE ON memories
WHEN (SELECT batch = 0 OR old.seq <= indexed_upto FROM fts_state)
BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, title, content, tags)
        VALUES ('delete', old.seq, old.title, old.content, old.tags);
    INSERT INTO fts_log (seq, memory_seq) SELECT seq, old.seq FROM fts_log_next_seq;
END;
CREATE TRIGGER memories_fts_au AFTER UPDATE OF title, content, tags ON memories
WHEN (SELECT batch = 0 OR old.seq <= indexed_upto FROM fts_state)
BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, title, content, tags)
        VALUES ('delete', old.seq, old.title, old.content, old.tags);
    INSERT INTO memories_fts (rowid, title, content, tags)
        VALUES (new.seq, new.title, new.content, new.tags);
    INSERT INTO fts_log (seq, memory_seq) SELECT seq, new.seq FROM fts_log_next_seq;
END;
