import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { erasePersonalData, isSealed, openPersonalData, sealPersonalData } from '../../src/contexts/customers/personal-data.ts';
import { createPool } from '../../src/platform/database.ts';
import { migrateAll } from '../../src/platform/migrations.ts';
import '../setup/servers.ts';

// The customers context's sealing against real PostgreSQL, where the customers' keys are.
describe('personal data sealed with the customer’s key', () => {
  let pool: pg.Pool;
  const customer = () => `pd-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    await migrateAll(inject('servers').databaseUrl);
    pool = createPool(inject('servers').databaseUrl, 8);
  });

  afterAll(async () => {
    await pool?.end();
  });

  it('seals a value so that it is not there in clear, and opens it again', async () => {
    const id = customer();
    const sealed = await sealPersonalData(pool, id, 'ada@example.com');
    expect(isSealed(sealed)).toBe(true);
    expect(sealed).not.toContain('ada@example.com');
    expect(await openPersonalData(pool, sealed)).toBe('ada@example.com');
  });

  it('seals the same value of one customer the same way (a retried order is the same order), and differently for another customer', async () => {
    const id = customer();
    const seals = await Promise.all(Array.from({ length: 5 }, () => sealPersonalData(pool, id, 'ada@example.com')));
    expect(new Set(seals).size).toBe(1);
    expect(await sealPersonalData(pool, customer(), 'ada@example.com')).not.toBe(seals[0]);
    expect(await sealPersonalData(pool, id, 'bob@example.com')).not.toBe(seals[0]);
  });

  it('reads a value accepted before sealing existed as it is', async () => {
    expect(await openPersonalData(pool, 'legacy@example.com')).toBe('legacy@example.com');
  });

  it('refuses a sealed value that was altered', async () => {
    const sealed = await sealPersonalData(pool, customer(), 'ada@example.com');
    const bytes = Buffer.from(sealed.slice(sealed.lastIndexOf(':') + 1), 'base64');
    bytes[14] = bytes[14]! ^ 1;
    await expect(openPersonalData(pool, `${sealed.slice(0, sealed.lastIndexOf(':') + 1)}${bytes.toString('base64')}`)).rejects.toThrow();
  });

  it('cannot open anything of an erased customer, and seals its later data with a new key', async () => {
    const id = customer();
    const before = await sealPersonalData(pool, id, 'ada@example.com');
    expect(await erasePersonalData(pool, id)).toMatchObject({ keysDeleted: 1 });
    expect(await openPersonalData(pool, before)).toBeUndefined();
    const after = await sealPersonalData(pool, id, 'ada@example.com');
    expect(after).not.toBe(before);
    expect(await openPersonalData(pool, after)).toBe('ada@example.com');
  });
});
