-- Up Migration
-- The API process deletes what is past its retention (src/api/retention.ts): the Idempotency-Keys
-- older than API_IDEMPOTENCY_KEY_TTL_MS, the replay records older than
-- API_DEAD_LETTER_REPLAYS_RETENTION_MS. These indexes find them without reading the whole table.
create index idempotency_keys_created_at on api.idempotency_keys (created_at);
create index dead_letter_replays_replayed_at on api.dead_letter_replays (replayed_at);

-- Down Migration
drop index api.dead_letter_replays_replayed_at;
drop index api.idempotency_keys_created_at;
