-- Up Migration
-- The choreographed flow calls the gateway outside any transaction: it first commits a
-- 'charging' row (the intent, keyed by order, naming the event that started it), then calls the
-- gateway, then records the outcome. A cancel that finds 'charging' knows a charge is in flight;
-- a retry of the starting event finds its intent and calls again with the same Idempotency-Key.
alter table payments.payments drop constraint payments_status_check;
alter table payments.payments add constraint payments_status_check check (status in ('charging', 'captured', 'declined'));
alter table payments.payments add column started_by_event text;

-- Down Migration
alter table payments.payments drop column started_by_event;
alter table payments.payments drop constraint payments_status_check;
alter table payments.payments add constraint payments_status_check check (status in ('captured', 'declined'));
