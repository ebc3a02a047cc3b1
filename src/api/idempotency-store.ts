import type { Queryable } from '../platform/database.ts';

/** What the API answered to the first request with an Idempotency-Key, and which body that was. */
export interface IdempotentAnswer<T> {
  /** SHA-256 of the first request's body, canonical JSON. */
  requestHash: string;
  response: T;
}

/** How long a key is remembered when the process does not say (API_IDEMPOTENCY_KEY_TTL_MS's default): 24 h. */
export const defaultIdempotencyKeyTtlMs = 24 * 3_600_000;

/**
 * Stores `response` as the answer to `key` unless the key has one already, and returns the
 * answer the key has now: this request's, or that of the first request with the key (a retry, or
 * a concurrent duplicate, whose `requestHash` the caller compares with its own).
 *
 * A key is remembered for `ttlMs` from its first request, by the database's clock: after that it
 * is unknown, whether or not the sweep (src/api/retention.ts) has deleted its row yet. An expired
 * row still there is replaced by this request's answer, in the insert itself; of two requests
 * racing on an expired key, the second waits for the first's replacement and gets its answer.
 */
export async function claimIdempotencyKey<T>(
  db: Queryable,
  key: string,
  requestHash: string,
  response: T,
  ttlMs = defaultIdempotencyKeyTtlMs,
): Promise<IdempotentAnswer<T>> {
  // The row is gone or has expired between the two statements at most once or twice in a row.
  for (let attempt = 0; attempt < 3; attempt++) {
    const claimed = await db.query<{ request_hash: string; response: T }>(
      `insert into api.idempotency_keys as k (idempotency_key, request_hash, status_code, response, created_at) values ($1, $2, 202, $3, now())
       on conflict (idempotency_key) do update
         set request_hash = excluded.request_hash, status_code = excluded.status_code, response = excluded.response, created_at = excluded.created_at
         where k.created_at <= now() - $4::double precision * interval '1 millisecond'
       returning request_hash, response`,
      [key, requestHash, JSON.stringify(response), ttlMs],
    );
    // Not claimed: the key has an answer within its lifetime (committed, or waited for).
    const stored =
      claimed.rows[0] ??
      (
        await db.query<{ request_hash: string; response: T }>(
          `select request_hash, response from api.idempotency_keys
           where idempotency_key = $1 and created_at > now() - $2::double precision * interval '1 millisecond'`,
          [key, ttlMs],
        )
      ).rows[0];
    if (stored) return { requestHash: stored.request_hash, response: stored.response };
  }
  throw new Error(`Idempotency-Key ${key}: its row expired or was deleted between every claim and read`);
}
