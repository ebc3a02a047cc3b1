-- Up Migration
-- The read model keeps an ended order for READ_MODEL_RETENTION_MS after its last change
-- (src/projections/retention.ts): found by this index, removed with its timeline.
create index order_view_ended_idx on read_model.order_view (updated_at) where status in ('confirmed', 'cancelled');

-- Down Migration
drop index read_model.order_view_ended_idx;
