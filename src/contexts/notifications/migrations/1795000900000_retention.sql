-- Up Migration
-- What the retention sweep removes by age (src/contexts/notifications/retention.ts): sent emails
-- by when they were sent, recipients by when they were learned (the rows from before count from now).
alter table notifications.recipients add column learned_at timestamptz not null default now();
create index sent_messages_sent_at_idx on notifications.sent_messages (sent_at);
create index recipients_learned_at_idx on notifications.recipients (learned_at);

-- Down Migration
drop index notifications.recipients_learned_at_idx;
drop index notifications.sent_messages_sent_at_idx;
alter table notifications.recipients drop column learned_at;
