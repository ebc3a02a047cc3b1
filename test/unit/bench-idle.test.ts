import { describe, expect, it } from 'vitest';
import { summarizeIdle, type IdleOrder } from '../../bench/idle.ts';
import { defaultMix } from '../../bench/mix.ts';

const approved = defaultMix.find((m) => m.key === 'approved')!;
const order = (submittedAt: number, confirmedAfter: number | undefined, httpMs: number | null = 5): IdleOrder => ({
  orderId: `o-${submittedAt}`,
  kind: approved.key,
  flow: 'choreographed',
  scenario: approved.scenario,
  submittedAt,
  httpStatus: 202,
  httpMs,
  ...(confirmedAfter === undefined ? {} : { confirmedAt: submittedAt + confirmedAfter }),
});

describe('one order on an idle system', () => {
  it('reports p50, p95 and p99 of the 50 times from POST /orders to confirmed in the read model', () => {
    // 50 orders taking 1..50 ms, sent in reverse so the order sent does not matter.
    const orders = Array.from({ length: 50 }, (_, i) => order(i * 1000, 50 - i));
    const summary = summarizeIdle(orders);
    expect(summary).toMatchObject({ orders: 50, confirmed: 50 });
    expect(summary.toConfirmedMs).toMatchObject({ count: 50, p50: 25, p95: 48, p99: 50, max: 50 });
  });

  it('leaves out the orders the read model never showed confirmed, but counts them as sent', () => {
    const summary = summarizeIdle([order(0, 40), order(1000, undefined), order(2000, 60, null)]);
    expect(summary).toMatchObject({ orders: 3, confirmed: 2 });
    expect(summary.toConfirmedMs).toMatchObject({ count: 2, p50: 40, p99: 60 });
    expect(summary.httpMs?.count).toBe(2);
  });

  it('has no percentiles when no order was confirmed', () => {
    expect(summarizeIdle([order(0, undefined)]).toConfirmedMs).toBeUndefined();
  });
});
