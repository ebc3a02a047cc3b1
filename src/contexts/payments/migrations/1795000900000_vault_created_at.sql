-- Up Migration
-- The retention sweep finds the tokens past PAYMENT_VAULT_RETENTION_MS by this index (src/contexts/payments/retention.ts).
create index vault_created_at_idx on payments.vault (created_at);

-- Down Migration
drop index payments.vault_created_at_idx;
