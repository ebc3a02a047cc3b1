-- Up Migration
-- The choreographed flow keeps in the orders context what the workflow keeps in its state:
-- whether the customer asked to cancel, and the review deadline (there is no durable timer).
alter table orders.orders add column cancel_requested_at timestamptz;
alter table orders.orders add column correlation_id text;

create table orders.review_deadlines (
  order_id     text primary key references orders.orders (order_id),
  due_at       timestamptz not null,
  resolved_at  timestamptz,
  resolution   text check (resolution in ('approved', 'rejected', 'timed_out', 'cancelled'))
);
create index review_deadlines_due_idx on orders.review_deadlines (due_at) where resolved_at is null;

-- Down Migration
drop table orders.review_deadlines;
alter table orders.orders drop column correlation_id;
alter table orders.orders drop column cancel_requested_at;
