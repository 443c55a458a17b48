-- The version of each component that ops put live through the API (an upload or a rollback),
-- shared by every replica of this database: a replica serves it instead of the file its image
-- carries, as long as that file is the one the version replaced (`base`), so a new image's
-- files win over versions uploaded for the previous one. `component_blobs` holds the bytes of
-- live versions only. Portable SQL: SQLite and Postgres.
CREATE TABLE IF NOT EXISTS component_live (
    component TEXT PRIMARY KEY,
    base TEXT NOT NULL,
    digest TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS component_blobs (
    digest TEXT PRIMARY KEY,
    bytes BYTEA NOT NULL
);
