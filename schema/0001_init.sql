-- mnemograph schema, migration 1: memories, relationships, full text, vectors, meta.
--
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC). JSON columns hold
-- serde_json text. Ids are UUIDv7 text made by the writer; `seq` is the local row key that
-- the full-text index points at (an INTEGER PRIMARY KEY survives VACUUM, a bare rowid not).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE memories (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    title        TEXT NOT NULL,
    content      TEXT NOT NULL,
    tags         TEXT NOT NULL DEFAULT '[]',
    context      TEXT NOT NULL DEFAULT '{}',
    project      TEXT GENERATED ALWAYS AS (json_extract(context, '$.project')) VIRTUAL,
    importance   REAL NOT NULL CHECK (importance BETWEEN 0 AND 1),
    confidence   REAL NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    accessed_at  INTEGER,
    access_count INTEGER NOT NULL DEFAULT 0,
    version      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX memories_created ON memories (created_at DESC, id DESC);
CREATE INDEX memories_kind ON memories (kind, created_at DESC);
CREATE INDEX memories_project ON memories (project, created_at DESC) WHERE project IS NOT NULL;

-- Normalised tags, one row per (memory, tag), kept by triggers from memories.tags.
CREATE TABLE memory_tags (
    tag        TEXT NOT NULL,
    memory_seq INTEGER NOT NULL REFERENCES memories (seq) ON DELETE CASCADE,
    PRIMARY KEY (tag, memory_seq)
) WITHOUT ROWID;
CREATE INDEX memory_tags_memory ON memory_tags (memory_seq);

CREATE TRIGGER memories_tags_ai AFTER INSERT ON memories BEGIN
    INSERT OR IGNORE INTO memory_tags (tag, memory_seq)
        SELECT value, new.seq FROM json_each(new.tags);
END;
CREATE TRIGGER memories_tags_au AFTER UPDATE OF tags ON memories BEGIN
    DELETE FROM memory_tags WHERE memory_seq = old.seq;
    INSERT OR IGNORE INTO memory_tags (tag, memory_seq)
        SELECT value, new.seq FROM json_each(new.tags);
END;

-- Full text over title, content and tags; external content, kept by triggers.
CREATE VIRTUAL TABLE memories_fts USING fts5 (
    title, content, tags,
    content = 'memories',
    content_rowid = 'seq',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
-- Rank by BM25 with a title match worth five content matches and a tag match two.
INSERT INTO memories_fts (memories_fts, rank) VALUES ('rank', 'bm25(5.0, 1.0, 2.0)');
CREATE TRIGGER memories_fts_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, title, content, tags)
        VALUES (new.seq, new.title, new.content, new.tags);
END;
CREATE TRIGGER memories_fts_ad AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, title, content, tags)
        VALUES ('delete', old.seq, old.title, old.content, old.tags);
END;
CREATE TRIGGER memories_fts_au AFTER UPDATE OF title, content, tags ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, title, content, tags)
        VALUES ('delete', old.seq, old.title, old.content, old.tags);
    INSERT INTO memories_fts (rowid, title, content, tags)
        VALUES (new.seq, new.title, new.content, new.tags);
END;

CREATE TABLE relationships (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    source_id   TEXT NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
    target_id   TEXT NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
    rel_type    TEXT NOT NULL,
    strength    REAL NOT NULL CHECK (strength BETWEEN 0 AND 1),
    confidence  REAL NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    note        TEXT,
    properties  TEXT NOT NULL DEFAULT '{}',
    valid_from  INTEGER,
    valid_to    INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1,
    UNIQUE (source_id, target_id, rel_type)
);
-- The UNIQUE index serves walks from the source; this one serves walks from the target.
CREATE INDEX relationships_target ON relationships (target_id, rel_type);

-- Vectors: libSQL F32_BLOB values (little-endian f32), the source of truth for the
-- in-process index. No libsql_vector_idx: it indexes slowly and replicates many pages per row.
CREATE TABLE memory_vectors (
    memory_id TEXT PRIMARY KEY NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
    model     TEXT NOT NULL,
    embedding F32_BLOB NOT NULL
);

-- Every change to a vector appends the memory id here, so each process's in-memory vector
-- index catches up with writes made by any other process (or device) by reading the tail.
CREATE TABLE vector_log (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    memory_id TEXT NOT NULL
);
CREATE TRIGGER memory_vectors_log_ai AFTER INSERT ON memory_vectors BEGIN
    INSERT INTO vector_log (memory_id) VALUES (new.memory_id);
END;
CREATE TRIGGER memory_vectors_log_au AFTER UPDATE ON memory_vectors BEGIN
    INSERT INTO vector_log (memory_id) VALUES (new.memory_id);
END;
CREATE TRIGGER memory_vectors_log_ad AFTER DELETE ON memory_vectors BEGIN
    INSERT INTO vector_log (memory_id) VALUES (old.memory_id);
END;
-- Keep the log short: readers further behind than the floor reload the whole index.
CREATE TRIGGER vector_log_prune AFTER INSERT ON vector_log WHEN new.seq % 4096 = 0 BEGIN
    DELETE FROM vector_log WHERE seq <= new.seq - 65536;
    INSERT OR REPLACE INTO meta (key, value) VALUES ('vector_log_floor', new.seq - 65536);
END;
