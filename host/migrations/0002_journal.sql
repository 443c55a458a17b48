-- The market's command journal: every command a matching shard accepted, written in batches
-- (one row per group commit) before anyone is told the outcome. Snapshots let start-up skip
-- the journal rows they cover. Portable SQL: the same migration runs on SQLite and Postgres.
CREATE TABLE IF NOT EXISTS journal (
    shard INTEGER NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    commands TEXT NOT NULL,
    PRIMARY KEY (shard, first_seq)
);
CREATE TABLE IF NOT EXISTS journal_snapshots (
    shard INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (shard, seq)
);
CREATE TABLE IF NOT EXISTS journal_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
