import { setTimeout as sleep } from 'node:timers/promises';

/** Options of {@link waitUntil}. */
export interface WaitOptions {
  /** Give up after this long. */
  timeoutMs: number;
  /** Pause between two attempts. @default 250 */
  intervalMs?: number;
  /** Returns a reason when waiting longer is pointless (the process died), else undefined. */
  abortReason?: () => string | undefined;
}

/** Outcome of {@link waitUntil}: ready, or why not. */
export type WaitResult = { ready: true } | { ready: false; reason: string };

/** Calls `probe` until it resolves, the timeout passes, or `abortReason` gives a reason to stop. */
export async function waitUntil(probe: () => Promise<void>, options: WaitOptions): Promise<WaitResult> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError = 'no attempt finished';
  for (;;) {
    const aborted = options.abortReason?.();
    if (aborted !== undefined) return { ready: false, reason: aborted };
    try {
      await probe();
      return { ready: true };
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline) {
      return { ready: false, reason: `no answer within ${Math.round(options.timeoutMs / 1000)} s (last error: ${lastError})` };
    }
    await sleep(options.intervalMs ?? 250);
  }
}
