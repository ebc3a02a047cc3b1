-- Up Migration
-- A claim on an order's pending emails is a lease: it names one delivery attempt of the claiming
-- event and when it was taken. Another attempt of the same event (two members after a rebalance,
-- or a consumer restarted while its old batch still ran) waits until the holder has recorded the
-- emails sent, or until the lease has run out (the holder died), instead of sending them too.
alter table notifications.pending_messages add column claimed_at timestamptz;

-- Down Migration
alter table notifications.pending_messages drop column claimed_at;
