import type { Queryable } from '../platform/database.ts';

/** What the API answered to the first request with an Idempotency-Key, and which body that was. */
export interface IdempotentAnswer<T> {
  /** SHA-256 of the first request's body, canonical JSON. */
  requestHash: string;
  response: T;
}

/**
 * Stores `response` as the answer to `key` unless the key has one already, and returns the
 * answer the key has now: this request's, or that of the first request with the key (a retry, or
 * a concurrent duplicate, whose `requestHash` the caller compares with its own).
 */
export async function claimIdempotencyKey<T>(db: Queryable, key: string, requestHash: string, response: T): Promise<IdempotentAnswer<T>> {
  await db.query('insert into api.idempotency_keys (idempotency_key, request_hash, status_code, response) values ($1, $2, 202, $3) on conflict do nothing', [
    key,
    requestHash,
    JSON.stringify(response),
  ]);
  const stored = (
    await db.query<{ request_hash: string; response: T }>('select request_hash, response from api.idempotency_keys where idempotency_key = $1', [key])
  ).rows[0]!;
  return { requestHash: stored.request_hash, response: stored.response };
}
