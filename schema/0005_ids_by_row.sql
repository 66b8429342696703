-- mnemograph schema, migration 5: the ids of memories by row, in an index of their own.
--
-- Keyword search ranks in the full-text index, whose rows are `seq`, and orders matches tied
-- on score by `id` (every backend does; ids are the same in every copy of a store, row numbers
-- not). Only the ids of the tied matches are read, but a query's matches can tie by the hundred
-- when memories have nearly equal lengths, and each id read through the table lands on a
-- different 4 KiB page of whole memories, mostly not in the page cache (13% of a keyword
-- search at 100,000 memories). This index holds only (seq, id): about 80 ids a page, 5 MB at
-- 100,000 memories, so its pages stay cached and a tied match costs a lookup in memory.
-- `keyword.rs` reads it by name (`INDEXED BY`), since SQLite prefers the table's own key.
--
-- A new memory's entry lands at the index's right end (`seq` grows), so a write dirties one
-- more page, and the same one for consecutive writes. Building it on a store of 100,000
-- memories takes about 0.2 s.

CREATE INDEX memories_ids_by_row ON memories (seq, id);
