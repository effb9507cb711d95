-- memories are a tenant's memories (bulwark.Memory). payload_ct is the
-- sealed JSON of the text, tags, user and taint flag, bound to the tenant
-- and the memory id; user_id and tainted are kept beside it in the clear
-- to select and mark memories, and checked against the sealed copy when
-- a memory is read. words holds the search tokens of the text and tags:
-- keyed hashes of the words (sealing.IndexWords), never the words.
CREATE TABLE memories (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT NOT NULL UNIQUE,
	tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	user_id    TEXT NOT NULL DEFAULT '',
	task_id    TEXT NOT NULL DEFAULT '',
	tainted    INTEGER NOT NULL DEFAULT 0,
	payload_ct BLOB NOT NULL,
	words      TEXT NOT NULL,
	created    INTEGER NOT NULL,
	updated    INTEGER NOT NULL
) STRICT;
CREATE INDEX memories_tenant ON memories (tenant_id, user_id, created);

-- memories_fts ranks memories by their tokens (bm25). It is an index of
-- memories.words only (external content), kept by the triggers below, so
-- that copying the memories table rebuilds it.
CREATE VIRTUAL TABLE memories_fts USING fts5 (words, content = 'memories', content_rowid = 'seq', tokenize = 'ascii');
CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
	INSERT INTO memories_fts (rowid, words) VALUES (new.seq, new.words);
END;
CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
	INSERT INTO memories_fts (memories_fts, rowid, words) VALUES ('delete', old.seq, old.words);
END;
CREATE TRIGGER memories_fts_update AFTER UPDATE OF words ON memories BEGIN
	INSERT INTO memories_fts (memories_fts, rowid, words) VALUES ('delete', old.seq, old.words);
	INSERT INTO memories_fts (rowid, words) VALUES (new.seq, new.words);
END;
