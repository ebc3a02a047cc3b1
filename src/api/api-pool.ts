import pg from 'pg';

/** Deadlines of the API's PostgreSQL calls, in ms. */
export const apiDatabaseTimeouts = {
  /** Waiting for a connection (a new one, or a free one of the pool). */
  connectMs: 2000,
  /** One statement: the server cancels it past this (SQLSTATE 57014). */
  statementMs: 5000,
  /** One query, from sent to answered: the client gives up past this even if the server says nothing. */
  queryMs: 6000,
};

/**
 * The API's connection pool: bounded, with deadlines (a request must not wait for a database that
 * hangs: it answers 503/504 instead), and with a listener for an idle client's error (a restart
 * of the server) so that the process lives on; the pool drops that client and reconnects.
 */
export function createApiPool(databaseUrl: string, max: number, onIdleError: (err: Error) => void = () => undefined): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max,
    connectionTimeoutMillis: apiDatabaseTimeouts.connectMs,
    statement_timeout: apiDatabaseTimeouts.statementMs,
    query_timeout: apiDatabaseTimeouts.queryMs,
  });
  pool.on('error', onIdleError);
  return pool;
}
