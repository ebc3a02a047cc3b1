-- Up Migration
-- The payment vault: the one table that holds a customer's payment token, encrypted (AES-256-GCM
-- under a key of PAYMENT_VAULT_KEYS, the reference as associated data, so a sealed token moved to
-- another row does not open). The API stores the token once, when it accepts the order; events,
-- workflow inputs and the read model carry only the reference, which the payments context opens
-- right before it charges.
create table payments.vault (
  reference    text primary key,
  order_id     text not null unique,
  customer_id  text not null,
  key_id       text not null,
  -- IV (12 bytes) | ciphertext | auth tag (16 bytes)
  sealed       bytea not null,
  created_at   timestamptz not null default now()
);

-- Down Migration
drop table payments.vault;
