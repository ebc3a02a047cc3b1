-- Up Migration
-- The choreographed flow sends email outside any transaction: an event first claims the pending
-- messages of its order (commits), sends them, then records them sent. Only the claiming event
-- (or its redelivery after a crash) sends a claimed message, so two events never send one twice.
alter table notifications.pending_messages add column claimed_by text;

-- Down Migration
alter table notifications.pending_messages drop column claimed_by;
