import type pg from 'pg';
import type { Logger } from 'pino';

/**
 * Removing what is past its retention (docs/retention.md), off the hot path: a process runs its
 * sweeps every few seconds to minutes, one process at a time per sweep (a session advisory lock),
 * deleting in small batches that each commit on their own, so no transaction holds many row locks
 * or keeps old row versions alive while the handlers go on writing.
 */

/** One store's removal: runs on a connection of its own and returns how many rows it removed. */
export interface Sweep {
  /** The store, for logs: `api.idempotency_keys`. */
  name: string;
  run(client: pg.PoolClient): Promise<number>;
}

/**
 * Deletes the rows of `table` that `where` selects (its parameters from `$2` on; `$1` is the
 * batch size), `batchSize` at a time, each batch its own statement (and transaction), until a
 * batch finds fewer. Returns how many rows it deleted. `table` must be a plain table (not a
 * partitioned one: rows are picked by `ctid`), and `where` should use an index.
 */
export async function deleteInBatches(
  client: Pick<pg.PoolClient, 'query'>,
  table: string,
  where: string,
  params: readonly unknown[] = [],
  batchSize = 5000,
): Promise<number> {
  let deleted = 0;
  for (;;) {
    const { rowCount } = await client.query(`delete from ${table} where ctid = any(array(select ctid from ${table} where ${where} limit $1))`, [
      batchSize,
      ...params,
    ]);
    deleted += rowCount ?? 0;
    if ((rowCount ?? 0) < batchSize) return deleted;
  }
}

/**
 * {@link deleteInBatches} of the rows of `table` whose `column` (a timestamp, indexed) is at least
 * `ageMs` old: what every sweep of a store kept for a time does.
 */
export function deleteOlderThan(client: Pick<pg.PoolClient, 'query'>, table: string, column: string, ageMs: number, batchSize?: number): Promise<number> {
  return deleteInBatches(client, table, `${column} <= now() - $2::double precision * interval '1 millisecond'`, [ageMs], batchSize);
}

/** Options of {@link startSweeper}. */
export interface SweeperOptions {
  pool: pg.Pool;
  /** A pino logger, or Fastify's (`app.log`). */
  log: Pick<Logger, 'info' | 'warn'>;
  /** The sweeps this process runs, in order, each under its own advisory lock. */
  sweeps: readonly Sweep[];
  /** How often (0: never, the sweeps run in another process). @default 60_000 */
  intervalMs?: number;
}

/**
 * Runs `sweeps` at once and then every `intervalMs` until stopped. Each sweep takes the session
 * advisory lock of its name and skips its turn when another process holds it. A failed sweep (the
 * database away) is logged and tried again at the next turn: retention is never urgent; its
 * connection is discarded, not returned to the pool (it may still hold the lock). The turns, the
 * timer's and those `runOnce` asks for, run one after the other; `stop` lets no further sweep
 * begin and resolves once the turn under way (and any queued) is over, so the pool may end after.
 */
export function startSweeper(options: SweeperOptions): { stop(): Promise<void>; runOnce(): Promise<void> } {
  const intervalMs = options.intervalMs ?? 60_000;
  if (intervalMs <= 0) return { stop: () => Promise.resolve(), runOnce: () => Promise.resolve() };
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const runOnce = async () => {
    for (const sweep of options.sweeps) {
      if (stopped) return;
      let client: pg.PoolClient | undefined;
      let broken: Error | undefined;
      const onError = (err: Error) => {
        broken = err;
      };
      try {
        client = await options.pool.connect();
        client.on('error', onError);
        const { rows } = await client.query<{ locked: boolean }>("select pg_try_advisory_lock(hashtext('retention'), hashtext($1)) as locked", [sweep.name]);
        if (!rows[0]?.locked) continue;
        try {
          const started = performance.now();
          const removed = await sweep.run(client);
          if (removed > 0) options.log.info({ store: sweep.name, removed, ms: Math.round(performance.now() - started) }, 'removed what is past its retention');
        } finally {
          await client.query("select pg_advisory_unlock(hashtext('retention'), hashtext($1))", [sweep.name]);
        }
      } catch (err) {
        // Not back to the pool: it may still hold the lock (the unlock failed) or be in a failed
        // transaction the sweep began; ending its session ends both.
        broken ??= err instanceof Error ? err : new Error(String(err));
        options.log.warn({ err, store: sweep.name }, 'retention sweep failed; it is tried again at the next turn');
      } finally {
        client?.removeListener('error', onError);
        client?.release(broken);
      }
    }
  };

  // The turns one after the other, the timer's and those asked for (runOnce), so that stop waits for all.
  let last = Promise.resolve();
  const turn = () =>
    (last = last.then(runOnce).catch((err: unknown) => {
      options.log.warn({ err }, 'retention turn failed');
    }));
  const loop = () => {
    void turn().finally(() => {
      if (!stopped) timer = setTimeout(loop, intervalMs);
    });
  };
  loop();

  return {
    runOnce: () => turn(),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await last;
    },
  };
}
