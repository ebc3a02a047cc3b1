/**
 * What a PostgreSQL failure means for a retry. `pg` puts the SQLSTATE on `err.code`; a lost
 * connection surfaces as a Node socket error or as "Connection terminated" without one.
 */

/** The SQLSTATE of a database error, when it has one. */
function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * True when the database refused the statement because of its values, so the same statement
 * fails the same way every time: class 22 (data exception: a NUL in a text value, a number out
 * of range) and class 23 (integrity constraint violation; the stores catch the ones they expect,
 * so one that reaches a caller is unexpected). Retrying these would never end.
 */
export function isDeterministicDatabaseError(err: unknown): boolean {
  const state = sqlState(err);
  return state !== undefined && (state.startsWith('22') || state.startsWith('23'));
}

/** Node socket errors of a connection that was refused, dropped or timed out. */
const connectionErrnos = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * True when the database is away or busy rather than the statement wrong: the connection was
 * refused or lost (class 08, a socket error, `pg`'s "Connection terminated"), the server is
 * shutting down or starting (57P01-57P03), out of resources (class 53), or the transaction lost a
 * race (40001 serialization, 40P01 deadlock). The same work succeeds once it is back.
 */
export function isTransientDatabaseError(err: unknown): boolean {
  const state = sqlState(err);
  if (state) return state.startsWith('08') || state.startsWith('53') || ['57P01', '57P02', '57P03', '40001', '40P01'].includes(state);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && connectionErrnos.has(code)) return true;
  const message = err instanceof Error ? err.message : '';
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message);
}
