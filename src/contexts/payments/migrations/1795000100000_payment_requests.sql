-- Up Migration
-- What the payments context of the choreographed flow learns from several events (the token from
-- order.placed, the amount from inventory.reserved, the approval from order.approved), in any
-- order; it charges once it knows enough, and never after a cancellation.
create table payments.payment_requests (
  order_id      text primary key,
  token         text,
  amount_cents  integer check (amount_cents >= 0),
  currency      text,
  needs_review  boolean,
  approved      boolean not null default false,
  cancelled     boolean not null default false
);

-- Down Migration
drop table payments.payment_requests;
