-- Up Migration
create table orders.orders (
  order_id     text primary key,
  customer_id  text not null,
  email        text not null,
  items        jsonb not null,
  flow         text not null check (flow in ('orchestrated', 'choreographed')),
  status       text not null check (status in ('pending', 'reserved', 'awaiting_review', 'paid', 'confirmed', 'cancelled')),
  total_cents  integer check (total_cents >= 0),
  currency     text,
  reason       text,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now()
);

-- One row per status an order reached: reaching a status twice is impossible by construction.
create table orders.status_history (
  order_id     text not null references orders.orders (order_id),
  status       text not null,
  reason       text,
  reached_at   timestamptz not null default now(),
  primary key (order_id, status)
);

create index orders_customer_idx on orders.orders (customer_id);

-- Down Migration
drop table orders.status_history;
drop table orders.orders;
