import { deleteOlderThan, type Sweep } from '../platform/retention.ts';

/** How long the API's own tables keep what they hold (API_IDEMPOTENCY_KEY_TTL_MS, API_DEAD_LETTER_REPLAYS_RETENTION_MS). */
export interface ApiRetention {
  /** How long an Idempotency-Key is remembered from its first request. */
  idempotencyKeyTtlMs: number;
  /** How long the record of a dead-letter replay is kept from the replay. */
  deadLetterReplaysRetentionMs: number;
  /** How long a sealed payment token stays in the vault from when the API stored it (the payments context's sweep). */
  paymentVaultMs?: number;
}

/**
 * The sweeps of the API's tables, for `startSweeper` (src/platform/retention.ts): the keys past
 * their lifetime (which POST /orders already treats as unknown), by `created_at`, and the replay
 * records past their retention, by `replayed_at`; both columns are indexed.
 */
export function apiSweeps(retention: ApiRetention, batchSize?: number): Sweep[] {
  return [
    {
      name: 'api.idempotency_keys',
      run: (client) => deleteOlderThan(client, 'api.idempotency_keys', 'created_at', retention.idempotencyKeyTtlMs, batchSize),
    },
    {
      name: 'api.dead_letter_replays',
      run: (client) => deleteOlderThan(client, 'api.dead_letter_replays', 'replayed_at', retention.deadLetterReplaysRetentionMs, batchSize),
    },
  ];
}
