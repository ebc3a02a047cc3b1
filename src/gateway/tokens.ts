/** What the simulated processor does with a charge, chosen by the payment token. */
export type TokenBehaviour =
  | { kind: 'approve' }
  | { kind: 'decline' }
  /** Answer 503 to the first `failures` attempts under one Idempotency-Key, then approve. */
  | { kind: 'fail_then_approve'; failures: number }
  /** Answer 503 to every attempt. */
  | { kind: 'unavailable' }
  /** Approve after `delayMs`. */
  | { kind: 'slow'; delayMs: number };

/**
 * Reads the behaviour from a payment token: `tok_approve`, `tok_decline`, `tok_fail_<N>`,
 * `tok_unavailable`, `tok_slow_<ms>`, each optionally followed by `+<anything>`, which is ignored
 * (so that a test can tell its tokens apart, and look for them where they must not be). Any other
 * token is declined as an invalid card.
 */
export function tokenBehaviour(given: string): TokenBehaviour {
  const token = given.split('+', 1)[0] ?? '';
  if (token === 'tok_approve') return { kind: 'approve' };
  if (token === 'tok_unavailable') return { kind: 'unavailable' };
  const fail = /^tok_fail_(\d{1,4})$/.exec(token);
  if (fail) return { kind: 'fail_then_approve', failures: Number(fail[1]) };
  const slow = /^tok_slow_(\d{1,5})$/.exec(token);
  if (slow) return { kind: 'slow', delayMs: Number(slow[1]) };
  return { kind: 'decline' };
}
