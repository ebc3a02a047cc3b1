-- Up Migration
-- The read model of both flows, projected from their events: what the API serves.
create table read_model.order_view (
  order_id        text primary key,
  flow            text not null,
  customer_id     text,
  items           jsonb,
  status          text not null,
  reason          text,
  total_cents     integer,
  currency        text,
  payment_status  text,
  stock_status    text,
  notified        boolean not null default false,
  event_count     integer not null,
  placed_at       timestamptz,
  updated_at      timestamptz not null
);
create index order_view_status_idx on read_model.order_view (status);
create index order_view_customer_idx on read_model.order_view (customer_id);

-- Every event of an order once (its id is the key), with its causation.
create table read_model.order_timeline (
  event_id        text primary key,
  order_id        text not null,
  type            text not null,
  occurred_at     timestamptz not null,
  flow            text not null,
  producer        text not null,
  correlation_id  text not null,
  causation_id    text,
  data            jsonb not null
);
create index order_timeline_order_idx on read_model.order_timeline (order_id, occurred_at);

-- Down Migration
drop table read_model.order_timeline;
drop table read_model.order_view;
