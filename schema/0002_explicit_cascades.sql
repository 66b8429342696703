-- Deleting a memory removes its tags, relationships and vector by trigger, not only by the
-- foreign keys' ON DELETE CASCADE: cascades need `PRAGMA foreign_keys = ON` on the connection
-- that deletes, and a write forwarded from an embedded replica runs on a connection of the
-- primary's, where that pragma is not ours to set.
CREATE TRIGGER memories_cascade_bd BEFORE DELETE ON memories BEGIN
    DELETE FROM memory_tags WHERE memory_seq = old.seq;
    DELETE FROM relationships WHERE source_id = old.id OR target_id = old.id;
    DELETE FROM memory_vectors WHERE memory_id = old.id;
END;
