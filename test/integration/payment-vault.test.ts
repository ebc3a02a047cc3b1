import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  PaymentReferenceUnknownError,
  PaymentVault,
  PaymentVaultSealError,
  isPaymentReference,
  paymentVaultOf,
} from '../../src/contexts/payments/payment-vault.ts';
import { ConfigError } from '../../src/platform/config.ts';
import { createPool } from '../../src/platform/database.ts';
import { migrateAll } from '../../src/platform/migrations.ts';
import '../setup/servers.ts';

const key = (id: string) => ({ id, key: randomBytes(32) });

// The vault against real PostgreSQL: the only table a payment token is in, sealed.
describe('the payment vault', () => {
  let pool: pg.Pool;
  const first = key('vault-1');
  const vault = new PaymentVault([first]);
  const entry = () => ({ orderId: randomUUID(), customerId: 'vault-customer', token: `tok_approve_${randomUUID()}` });

  beforeAll(async () => {
    await migrateAll(inject('servers').databaseUrl);
    pool = createPool(inject('servers').databaseUrl, 8);
  });

  afterAll(async () => {
    await pool?.end();
  });

  it('answers a reference for a token and opens it again, and the row holds no token in clear', async () => {
    const stored = entry();
    const reference = await vault.store(pool, stored);
    expect(isPaymentReference(reference)).toBe(true);
    expect(reference).not.toContain(stored.token);
    expect(await vault.reveal(pool, reference)).toBe(stored.token);
    const { rows } = await pool.query<{ row: string }>('select row_to_json(v)::text as row from payments.vault v where reference = $1', [reference]);
    expect(rows[0]?.row).toBeDefined();
    expect(rows[0]?.row).not.toContain(stored.token);
    expect(rows[0]?.row).not.toContain(Buffer.from(stored.token).toString('hex'));
  });

  it('stores an order once: a retried or concurrent store answers the same reference', async () => {
    const stored = entry();
    const references = await Promise.all(Array.from({ length: 6 }, () => vault.store(pool, stored)));
    expect(new Set(references).size).toBe(1);
    const { rows } = await pool.query('select 1 from payments.vault where order_id = $1', [stored.orderId]);
    expect(rows).toHaveLength(1);
  });

  it('refuses a reference it does not hold', async () => {
    await expect(vault.reveal(pool, `payref_${randomUUID()}`)).rejects.toBeInstanceOf(PaymentReferenceUnknownError);
  });

  it('refuses a sealed token that was altered, or moved to another reference', async () => {
    const a = await vault.store(pool, entry());
    const b = await vault.store(pool, entry());
    await pool.query('update payments.vault set sealed = set_byte(sealed, 14, get_byte(sealed, 14) # 1) where reference = $1', [a]);
    await expect(vault.reveal(pool, a)).rejects.toBeInstanceOf(PaymentVaultSealError);
    // b's sealed token under another reference: the reference is its associated data.
    const c = entry();
    const reference = await vault.store(pool, c);
    await pool.query('update payments.vault set sealed = (select sealed from payments.vault where reference = $2) where reference = $1', [reference, b]);
    await expect(vault.reveal(pool, reference)).rejects.toBeInstanceOf(PaymentVaultSealError);
  });

  it('rotates: a new key seals new tokens, and tokens sealed under the old one still open', async () => {
    const old = entry();
    const oldReference = await vault.store(pool, old);
    const rotated = new PaymentVault([first, key('vault-2')]);
    const fresh = entry();
    const freshReference = await rotated.store(pool, fresh);
    const { rows } = await pool.query<{ key_id: string }>('select key_id from payments.vault where reference = $1', [freshReference]);
    expect(rows[0]?.key_id).toBe('vault-2');
    expect(await rotated.reveal(pool, oldReference)).toBe(old.token);
    // Without the key that sealed it, a token does not open, and the error names the key.
    await expect(vault.reveal(pool, freshReference)).rejects.toThrow(/vault-2/);
  });

  it('is configured from PAYMENT_VAULT_KEYS or a file, never without a key', () => {
    expect(() => paymentVaultOf({})).toThrow(ConfigError);
    expect(() => paymentVaultOf({ PAYMENT_VAULT_KEYS: 'k1:short' })).toThrow(/32 bytes/);
    expect(paymentVaultOf({ PAYMENT_VAULT_KEYS: `k1:${randomBytes(32).toString('base64')}` })).toBeInstanceOf(PaymentVault);
    expect(() => paymentVaultOf({ PAYMENT_VAULT_KEYS_FILE: '/nonexistent/vault-keys.json' })).toThrow(/cannot be read/);
  });
});
