import pg from 'pg';

/** What a store needs to run queries: the pool, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

/** Bounds on every connection of a pool, so nothing waits or holds a lock without end. */
export interface PoolTimeouts {
  /** How long a checkout may wait for a free connection or a new one. @default 5000 */
  connectionTimeoutMs: number;
  /** The server cancels a statement that runs longer (`statement_timeout`). @default 30_000 */
  statementTimeoutMs: number;
  /**
   * The server ends a session that sits idle inside a transaction longer
   * (`idle_in_transaction_session_timeout`), releasing its locks. @default 15_000
   */
  idleInTransactionTimeoutMs: number;
  /**
   * The client gives up on a query past this, even when the server says nothing at all (a hung
   * host); unset, it waits for the server's `statement_timeout`.
   */
  queryTimeoutMs?: number;
}

/** The bounds a pool gets unless told otherwise (DATABASE_* in src/platform/config.ts). */
export const defaultPoolTimeouts: PoolTimeouts = { connectionTimeoutMs: 5000, statementTimeoutMs: 30_000, idleInTransactionTimeoutMs: 15_000 };

/**
 * A connection pool of `max` connections, each bounded by `timeouts` (the server-side ones are
 * sent as connection options, so they hold for every session of the pool). An idle client whose
 * connection the server ends (a restart, `pg_terminate_backend`) emits `error` on the pool;
 * without a listener Node would end the process. The pool has already dropped that client, so
 * the next query opens a new connection: the error is only reported.
 */
export function createPool(
  databaseUrl: string,
  max = 10,
  onIdleError: (err: Error) => void = () => undefined,
  timeouts: PoolTimeouts = defaultPoolTimeouts,
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max,
    connectionTimeoutMillis: timeouts.connectionTimeoutMs,
    statement_timeout: timeouts.statementTimeoutMs,
    idle_in_transaction_session_timeout: timeouts.idleInTransactionTimeoutMs,
    ...(timeouts.queryTimeoutMs ? { query_timeout: timeouts.queryTimeoutMs } : {}),
  });
  pool.on('error', onIdleError);
  return pool;
}

/**
 * Runs `work` in one transaction: committed if it resolves, rolled back if it throws. A client
 * whose connection broke (the server restarted mid-transaction) is destroyed, never put back in
 * the pool, and its `error` event, which a checked-out client emits with nobody else listening, is
 * caught here instead of ending the process.
 */
export async function withTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  const release = (err?: Error) => {
    client.removeListener('error', onError);
    client.release(err ?? broken);
  };
  try {
    await client.query('begin');
    const result = await work(client);
    await client.query('commit');
    release();
    return result;
  } catch (err) {
    await client.query('rollback').then(
      () => release(),
      (rollbackErr: unknown) => release(rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr))),
    );
    throw err;
  }
}

/**
 * Runs `work` holding the session-level advisory lock `key`, so that one process of all those
 * sharing the database runs it at a time (no transaction stays open meanwhile: `work` may wait on
 * the network). The lock goes with the connection if the process dies.
 */
export async function withAdvisoryLock<T>(pool: pg.Pool, key: number, work: () => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  try {
    await client.query('select pg_advisory_lock($1)', [key]);
    try {
      return await work();
    } finally {
      await client.query('select pg_advisory_unlock($1)', [key]).catch((err: unknown) => {
        broken ??= err instanceof Error ? err : new Error(String(err));
      });
    }
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}
