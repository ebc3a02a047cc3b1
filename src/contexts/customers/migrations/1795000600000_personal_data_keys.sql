-- Up Migration
-- Crypto-shredding: a customer's personal data (the email) is sealed with a key of its own before
-- it goes anywhere (events, workflow inputs, other contexts' tables). Erasing the customer deletes
-- its keys: every copy, in every topic, history and table, is then unreadable, while orders,
-- amounts and statuses stay intact.
create table customers.personal_data_keys (
  key_id       text primary key,
  customer_id  text not null,
  key          bytea not null check (length(key) = 32),
  created_at   timestamptz not null default now()
);
-- One key per customer at a time: the one new data is sealed with.
create unique index personal_data_keys_customer on customers.personal_data_keys (customer_id);

-- Who was erased, and when (no personal data: the customer id is the business's reference).
create table customers.erasures (
  customer_id  text primary key,
  erased_at    timestamptz not null default now(),
  keys_deleted integer not null
);

-- Down Migration
drop table customers.erasures;
drop table customers.personal_data_keys;
