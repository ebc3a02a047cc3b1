import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startSweeper, type Sweep } from '../../src/platform/retention.ts';

/** A pool whose clients answer the advisory lock and unlock, and record how they are released. */
function fakePool(options: { unlockFails?: boolean } = {}) {
  const released: (Error | undefined)[] = [];
  const pool = {
    connect: () =>
      Promise.resolve({
        query: (text: string) => {
          if (text.includes('pg_try_advisory_lock')) return Promise.resolve({ rows: [{ locked: true }] });
          if (text.includes('pg_advisory_unlock') && options.unlockFails) return Promise.reject(new Error('current transaction is aborted'));
          return Promise.resolve({ rows: [] });
        },
        on: () => undefined,
        removeListener: () => undefined,
        release: (err?: Error) => released.push(err),
      }),
  } as unknown as pg.Pool;
  return { pool, released };
}

const quiet = { info: () => undefined, warn: () => undefined };

describe('the retention sweeper', () => {
  it('returns the connection of a sweep that went well to the pool, and discards one whose sweep failed', async () => {
    const { pool, released } = fakePool({ unlockFails: true });
    const sweeps: Sweep[] = [
      { name: 'fine', run: () => Promise.resolve(3) },
      { name: 'failing', run: () => Promise.reject(new Error('statement timeout')) },
    ];
    const sweeper = startSweeper({ pool, log: quiet, sweeps, intervalMs: 3_600_000 });
    await sweeper.runOnce();
    await sweeper.stop();
    // The unlock failed after each: no connection may go back holding the lock.
    expect(released.length).toBeGreaterThanOrEqual(2);
    expect(released.every((err) => err instanceof Error)).toBe(true);

    const healthy = fakePool();
    const again = startSweeper({ pool: healthy.pool, log: quiet, sweeps: sweeps.slice(0, 1), intervalMs: 3_600_000 });
    await again.runOnce();
    await again.stop();
    expect(healthy.released.length).toBeGreaterThanOrEqual(1);
    expect(healthy.released.every((err) => err === undefined)).toBe(true);
  });

  it('waits on stop for a turn asked for with runOnce', async () => {
    const { pool } = fakePool();
    let finished = 0;
    const slow: Sweep = { name: 'slow', run: () => new Promise((resolve) => setTimeout(() => resolve(++finished), 50)) };
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const sweeper = startSweeper({ pool, log: quiet, sweeps: [slow], intervalMs: 3_600_000 });
    await sleep(120);
    // The turn at start is over, the timer's next is an hour away: this one is the only one under way.
    expect(finished).toBe(1);
    void sweeper.runOnce();
    await sleep(10);
    await sweeper.stop();
    expect(finished).toBe(2);
  });
});
