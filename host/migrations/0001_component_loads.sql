-- Every component version the host has loaded: the start of the audit trail that hot swap
-- extends. Portable SQL: the same migration runs on SQLite and Postgres.
CREATE TABLE IF NOT EXISTS component_loads (
    component TEXT NOT NULL,
    digest TEXT NOT NULL,
    source TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    loaded_at_ms BIGINT NOT NULL
);
