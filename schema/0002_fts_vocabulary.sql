-- mnemograph schema, migration 2: a read-only view of the full-text vocabulary.
--
-- One row per indexed (stemmed) term with the number of memories holding it. Keyword search
-- reads it to tell rare query terms from common ones in a few index probes, instead of
-- counting matches term by term. It stores nothing: FTS5 answers it from its own index.
CREATE VIRTUAL TABLE memories_fts_vocab USING fts5vocab (memories_fts, row);
