-- Up Migration
-- Payment tokens live in the payments vault only. order.placed events of orders accepted before
-- the vault carried the token, and the timeline kept the events' data whole: drop it from there
-- (the projector no longer keeps it either).
update read_model.order_timeline set data = data - 'paymentToken' where data ? 'paymentToken';

-- Down Migration
-- Nothing to undo: the tokens are gone on purpose.
