-- mnemograph schema, migration 3: fewer pages written per memory, since every page a write
-- dirties is one 4 KiB frame that each replica pulls from the primary.
--
-- 1. `memory_tags` goes. The tag filter only ever probed it row by row (memory by memory
--    along another index, never as the driving table), so checking the row's own `tags` JSON
--    answers the same question with the same result, and a create no longer writes the tag
--    table and its memory index (2.5 pages a memory, of ~15).
-- 2. `vector_log` loses AUTOINCREMENT, whose `sqlite_sequence` row was one more page for every
--    vector written. Its sequence stays increasing without it: each entry is numbered above
--    both the newest entry and the pruning floor, so even an emptied log never reuses a number
--    a reader may have seen.
-- 3. FTS5 leaves of at most 1,000 bytes instead of 4,050. Each create adds a small level-0
--    segment to `memories_fts_data` amid rows of merged segments; rows of nearly a page each
--    leave no room, so every insert rebalanced (rewrote) the neighbouring pages too. The
--    setting changes only how the index is cut into rows, not what a query finds or its rank.
-- 4. `memories_created` ascending. Newest-first pages read it backwards with the same plans,
--    but new rows now land at its right end, where a full leaf splits once, instead of at its
--    left end, where SQLite rebalanced the first leaves with their siblings again and again.

DROP TRIGGER memories_tags_ai;
DROP TRIGGER memories_tags_au;
DROP TRIGGER memories_cascade_bd;
DROP TABLE memory_tags;

DROP TRIGGER memory_vectors_log_ai;
DROP TRIGGER memory_vectors_log_au;
DROP TRIGGER memory_vectors_log_ad;
DROP TRIGGER vector_log_prune;
CREATE TABLE vector_log_next (
    seq       INTEGER PRIMARY KEY,
    memory_id TEXT NOT NULL
);
INSERT INTO vector_log_next (seq, memory_id) SELECT seq, memory_id FROM vector_log;
-- An empty log keeps its position as the floor, which the numbering below starts above.
INSERT OR REPLACE INTO meta (key, value)
    SELECT 'vector_log_floor', max(
        coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'vector_log_floor'), 0),
        coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'vector_log'), 0))
    WHERE NOT EXISTS (SELECT 1 FROM vector_log);
DROP TABLE vector_log;
ALTER TABLE vector_log_next RENAME TO vector_log;

-- The next log number: above the newest entry and above the floor.
CREATE VIEW vector_log_next_seq (seq) AS SELECT max(
    coalesce((SELECT max(seq) FROM vector_log), 0),
    coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'vector_log_floor'), 0)) + 1;
CREATE TRIGGER memory_vectors_log_ai AFTER INSERT ON memory_vectors BEGIN
    INSERT INTO vector_log (seq, memory_id) SELECT seq, new.memory_id FROM vector_log_next_seq;
END;
CREATE TRIGGER memory_vectors_log_au AFTER UPDATE ON memory_vectors BEGIN
    INSERT INTO vector_log (seq, memory_id) SELECT seq, new.memory_id FROM vector_log_next_seq;
END;
CREATE TRIGGER memory_vectors_log_ad AFTER DELETE ON memory_vectors BEGIN
    INSERT INTO vector_log (seq, memory_id) SELECT seq, old.memory_id FROM vector_log_next_seq;
END;
-- Keep the log short: readers further behind than the floor reload the whole index.
CREATE TRIGGER vector_log_prune AFTER INSERT ON vector_log WHEN new.seq % 4096 = 0 BEGIN
    DELETE FROM vector_log WHERE seq <= new.seq - 65536;
    INSERT OR REPLACE INTO meta (key, value) VALUES ('vector_log_floor', new.seq - 65536);
END;

INSERT INTO memories_fts (memories_fts, rank) VALUES ('pgsz', 1000);

DROP INDEX memories_created;
CREATE INDEX memories_created ON memories (created_at, id);

-- As in migration 2, without the tag table.
CREATE TRIGGER memories_cascade_bd BEFORE DELETE ON memories BEGIN
    DELETE FROM relationships WHERE source_id = old.id OR target_id = old.id;
    DELETE FROM memory_vectors WHERE memory_id = old.id;
END;
