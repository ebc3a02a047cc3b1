import type pg from 'pg';
import { createPool, defaultPoolTimeouts, type PoolTimeouts } from '../platform/database.ts';

/**
 * Deadlines of the API's PostgreSQL calls: shorter than the workers' (a request must not wait on
 * a database that hangs: it answers 503/504 instead), and a client-side query deadline for a
 * server that says nothing at all.
 */
export const apiPoolTimeouts: PoolTimeouts = {
  ...defaultPoolTimeouts,
  connectionTimeoutMs: 2000,
  // The server cancels a statement past this (SQLSTATE 57014: 504) ...
  statementTimeoutMs: 5000,
  // ... and the client gives up a little later if even that answer never comes.
  queryTimeoutMs: 6000,
};

/** The API's connection pool: the platform's pool with the API's deadlines. */
export function createApiPool(databaseUrl: string, max: number, onIdleError: (err: Error) => void = () => undefined): pg.Pool {
  return createPool(databaseUrl, max, onIdleError, apiPoolTimeouts);
}
