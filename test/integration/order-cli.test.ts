import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../infra/stack/ports.ts';
import { projectRoot } from '../../infra/stack/paths.ts';
import { migrateAll } from '../../src/platform/migrations.ts';
import { testVaultKeys } from './helpers/vault.ts';
import '../setup/servers.ts';

const run = promisify(execFile);

describe('the order command line', () => {
  const servers = inject('servers');
  const pool = new pg.Pool({ connectionString: servers.databaseUrl, max: 1 });

  beforeAll(() => migrateAll(servers.databaseUrl), 60_000);

  afterAll(async () => {
    await pool.end();
  });

  /** `npm run order -- <args>` against the test database, with `temporalAddress` as its Temporal. */
  const orderCli = async (temporalAddress: string, ...args: string[]) => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/order-cli.ts', ...args], {
      cwd: projectRoot,
      // Placing puts the token into the payments vault, with this test's keys.
      env: { ...process.env, DATABASE_URL: servers.databaseUrl, TEMPORAL_ADDRESS: temporalAddress, PAYMENT_VAULT_KEYS: testVaultKeys },
    });
    return JSON.parse(stdout) as Record<string, unknown>;
  };

  it('sends a command on a choreographed order to the choreographed flow without being told its flow, and needs no Temporal for it', async () => {
    // Nothing listens there: a call to Temporal would fail.
    const noTemporal = `127.0.0.1:${await freePort()}`;
    // A reviewed SKU: whatever happens to the order meanwhile, it stops at the review, where a cancel is allowed.
    const placed = await orderCli(noTemporal, 'place', '--flow', 'choreographed', '--items', 'LT-004:1');
    expect(placed).toEqual({ orderId: expect.any(String) as unknown, flow: 'choreographed' });
    const orderId = placed.orderId as string;

    expect(await orderCli(noTemporal, 'status', orderId)).toMatchObject({ orderId, flow: 'choreographed', notified: null });
    expect(await orderCli(noTemporal, 'cancel', orderId)).toMatchObject({ orderId, flow: 'choreographed' });
    const { rows } = await pool.query<{ cancel_requested: boolean }>(
      'select cancel_requested_at is not null as cancel_requested from orders.orders where order_id = $1',
      [orderId],
    );
    expect(rows).toEqual([{ cancel_requested: true }]);
  });
});
