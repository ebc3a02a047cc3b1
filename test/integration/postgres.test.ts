import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isDeterministicDatabaseError, isTransientDatabaseError } from '../../src/platform/database-errors.ts';
import '../setup/servers.ts';

describe('PostgreSQL', () => {
  const pool = new pg.Pool({ connectionString: inject('servers').databaseUrl, max: 2 });

  beforeAll(async () => {
    await pool.query('create table if not exists smoke_ledger (id text primary key, amount integer not null)');
    await pool.query('truncate smoke_ledger');
  });

  afterAll(async () => {
    await pool.query('drop table if exists smoke_ledger');
    await pool.end();
  });

  const inTransaction = async (work: (client: pg.PoolClient) => Promise<void>) => {
    const client = await pool.connect();
    try {
      await client.query('begin');
      await work(client);
      await client.query('commit');
    } catch (err) {
      await client.query('rollback');
      throw err;
    } finally {
      client.release();
    }
  };

  it('keeps a committed transaction and nothing of one that failed half way', async () => {
    await inTransaction(async (client) => {
      await client.query('insert into smoke_ledger values ($1, $2)', ['a', 10]);
      await client.query('insert into smoke_ledger values ($1, $2)', ['b', 20]);
    });
    const failed = inTransaction(async (client) => {
      await client.query('insert into smoke_ledger values ($1, $2)', ['c', 30]);
      await client.query('insert into smoke_ledger values ($1, $2)', ['a', 99]); // duplicate key
    });

    await expect(failed).rejects.toMatchObject({ code: '23505' });
    const { rows } = await pool.query<{ id: string; amount: number }>('select id, amount from smoke_ledger order by id');
    expect(rows).toEqual([
      { id: 'a', amount: 10 },
      { id: 'b', amount: 20 },
    ]);
  });

  it('tells a value the database refuses for good from a lost connection', async () => {
    const nul = await pool.query('insert into smoke_ledger values ($1, $2)', ['nul\u0000id', 1]).catch((err: unknown) => err);
    expect(isDeterministicDatabaseError(nul)).toBe(true);
    expect(isTransientDatabaseError(nul)).toBe(false);
    await pool.query('insert into smoke_ledger values ($1, $2)', ['dup', 1]);
    const duplicate = await pool.query('insert into smoke_ledger values ($1, $2)', ['dup', 2]).catch((err: unknown) => err);
    expect(isDeterministicDatabaseError(duplicate)).toBe(true);

    const unreachable = new pg.Client({ connectionString: 'postgres://nobody:x@127.0.0.1:1/none', connectionTimeoutMillis: 2000 });
    const refused = await unreachable.connect().catch((err: unknown) => err);
    expect(isTransientDatabaseError(refused)).toBe(true);
    expect(isDeterministicDatabaseError(refused)).toBe(false);

    // The server ends a backend (as a restart does): its client sees 57P01.
    const victim = await pool.connect();
    const { rows } = await victim.query<{ pid: number }>('select pg_backend_pid() as pid');
    const terminated = new Promise<unknown>((resolve) => victim.once('error', resolve));
    await pool.query('select pg_terminate_backend($1)', [rows[0]?.pid]);
    const err = await terminated;
    victim.release(err as Error);
    expect(isTransientDatabaseError(err)).toBe(true);
  });
});
