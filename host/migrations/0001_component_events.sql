-- Every attempt to put a component version live — at start-up, from the file watcher, an
-- upload or a rollback — with who asked, the outcome and how long it took. Portable SQL: the
-- same migration runs on SQLite and Postgres.
CREATE TABLE IF NOT EXISTS component_events (
    component TEXT NOT NULL,
    digest TEXT NOT NULL,
    actor TEXT NOT NULL,
    via TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS component_events_by_component ON component_events (component, at_ms);
