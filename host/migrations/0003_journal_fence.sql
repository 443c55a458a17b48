-- Fencing tokens of the matching shards: whoever starts a shard takes the next token, and a
-- journal write carrying an older one is refused, so a replica that lost a shard (a lease
-- that expired while it stalled) can never write into the history of its new owner.
CREATE TABLE IF NOT EXISTS journal_fence (
    shard INTEGER PRIMARY KEY,
    token BIGINT NOT NULL
);
