-- Up Migration
-- One payment per order: the order id is the idempotency key, and the gateway's own
-- Idempotency-Key (derived from it) makes the capture happen once even across crashes.
create table payments.payments (
  order_id        text primary key,
  status          text not null check (status in ('captured', 'declined')),
  amount_cents    integer not null check (amount_cents >= 0),
  currency        text not null,
  charge_id       text,
  decline_message text,
  created_at      timestamptz not null default now()
);

create table payments.refunds (
  order_id      text primary key,
  amount_cents  integer not null check (amount_cents >= 0),
  currency      text not null,
  refund_id     text not null,
  created_at    timestamptz not null default now()
);

-- Down Migration
drop table payments.refunds;
drop table payments.payments;
