-- Up Migration
-- The timeline keeps each event's data in the schema version it was projected in, so that a
-- refold after a later version change upcasts the older rows (src/messaging/upcasters.ts) instead
-- of reading them as the new shape. Every row before this column was schema version 1.
alter table read_model.order_timeline add column schema_version integer not null default 1;
alter table read_model.order_timeline alter column schema_version drop default;

-- Down Migration
alter table read_model.order_timeline drop column schema_version;
