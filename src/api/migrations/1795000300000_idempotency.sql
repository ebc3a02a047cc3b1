-- Up Migration
-- POST /orders answers a repeated Idempotency-Key with the stored response, and refuses the key
-- when it comes back with another body.
create table api.idempotency_keys (
  idempotency_key  text primary key,
  request_hash     text not null,
  status_code      integer not null,
  response         jsonb not null,
  created_at       timestamptz not null default now()
);

-- Down Migration
drop table api.idempotency_keys;
