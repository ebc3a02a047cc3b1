-- Up Migration
create table inventory.catalog (
  sku          text primary key,
  name         text not null,
  price_cents  integer not null check (price_cents >= 0),
  currency     text not null,
  stock        integer not null check (stock >= 0)
);

-- One reservation per order (the idempotency key): reserving twice reserves once. A release
-- without a reservation leaves a 'released' row behind, so a late reserve cannot take stock.
create table inventory.reservations (
  order_id     text primary key,
  status       text not null check (status in ('reserved', 'released')),
  lines        jsonb not null,
  total_cents  integer not null check (total_cents >= 0),
  currency     text not null,
  reserved_at  timestamptz,
  released_at  timestamptz
);

-- The seeded catalog: prices come from here, never from the client.
insert into inventory.catalog (sku, name, price_cents, currency, stock) values
  ('KB-001',   'Mechanical keyboard',        8900, 'USD', 1000000),
  ('MS-002',   'Wireless mouse',             2900, 'USD', 1000000),
  ('MN-003',   '27-inch monitor',           32900, 'USD', 1000000),
  ('LT-004',   'Laptop',                   149900, 'USD', 1000000),
  ('CB-005',   'USB-C cable',                 900, 'USD', 1000000),
  ('LTD-006',  'Limited edition headphones', 19900, 'USD', 0);

-- Down Migration
drop table inventory.reservations;
drop table inventory.catalog;
