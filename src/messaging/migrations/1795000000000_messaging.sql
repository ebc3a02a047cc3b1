-- Up Migration
-- Transactional outbox: a context writes its state change and the events it causes in one
-- transaction; the relay publishes unsent rows in id order and marks them sent.
create table messaging.outbox (
  id          bigserial primary key,
  event_id    text not null unique,
  topic       text not null,
  message_key text not null,
  payload     jsonb not null,
  headers     jsonb not null,
  created_at  timestamptz not null default now(),
  sent_at     timestamptz
);
create index outbox_unsent_idx on messaging.outbox (id) where sent_at is null;

-- Wakes the relay at once instead of waiting for its next poll.
create function messaging.notify_outbox() returns trigger language plpgsql as $$
begin
  perform pg_notify('outbox', '');
  return null;
end $$;
create trigger outbox_notify after insert on messaging.outbox for each statement execute function messaging.notify_outbox();

-- Inbox: the events each consumer group applied, written in the same transaction as the effect,
-- so a redelivered event applies nothing twice.
create table messaging.processed_events (
  consumer_group text not null,
  event_id       text not null,
  processed_at   timestamptz not null default now(),
  primary key (consumer_group, event_id)
);

-- Down Migration
drop table messaging.processed_events;
drop trigger outbox_notify on messaging.outbox;
drop function messaging.notify_outbox();
drop table messaging.outbox;
