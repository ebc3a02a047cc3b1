-- Up Migration
-- The dedupe rows by the time of their event, in partitions of a configurable width
-- (DEDUPE_PARTITION_MS), so that what is past the dedupe window (DEDUPE_RETENTION_MS) goes by
-- dropping a partition whole instead of deleting rows one by one (src/messaging/dedupe-window.ts
-- creates and drops them; docs/retention.md). The event's own time is the key, not the time it
-- was applied: every delivery of an event carries the same time, so it lands in the same
-- partition and the primary key still makes a second insert a conflict.
alter table messaging.processed_events rename to processed_events_unpartitioned;
create table messaging.processed_events (
  consumer_group text not null,
  event_id       text not null,
  occurred_at    timestamptz not null,
  processed_at   timestamptz not null default now(),
  primary key (consumer_group, event_id, occurred_at)
) partition by range (occurred_at);
-- The rows from before: their event's time was not recorded, so they keep -infinity in a partition
-- that ends now. It is dropped once its end is past the window: every event it may deduplicate
-- happened before its end.
create table messaging.processed_events_before_partitioning partition of messaging.processed_events
  for values from (minvalue) to (date_trunc('milliseconds', now()));
insert into messaging.processed_events (consumer_group, event_id, occurred_at, processed_at)
  select consumer_group, event_id, '-infinity', processed_at from messaging.processed_events_unpartitioned;
drop table messaging.processed_events_unpartitioned;

-- Down Migration
alter table messaging.processed_events rename to processed_events_partitioned;
create table messaging.processed_events (
  consumer_group text not null,
  event_id       text not null,
  processed_at   timestamptz not null default now(),
  primary key (consumer_group, event_id)
);
insert into messaging.processed_events (consumer_group, event_id, processed_at)
  select consumer_group, event_id, min(processed_at) from messaging.processed_events_partitioned group by 1, 2;
drop table messaging.processed_events_partitioned;
