/**
 * "One order on an idle system": orders sent one at a time, each after the previous one reached
 * its final state and its whole story is in the read model, timed from `POST /orders` to
 * `confirmed` in the read model. The figure the latency targets are about, and the
 * reference the `sustained` rule compares a loaded run's latency to (bench/sustained.ts).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditCheck } from './audit.ts';
import { auditRun } from './audit.ts';
import { customerOf, orderRequestBody, type DrivenOrder, type Flow } from './drive.ts';
import { isDeadLetterTopic, topicMessages, type SystemUnderTest } from './flow-run.ts';
import { percentiles } from './measure.ts';
import type { MixEntry } from './mix.ts';

type Percentiles = NonNullable<ReturnType<typeof percentiles>>;

/** One order of the idle phase: what the driver saw, and when the read model first showed it `confirmed` (ms since the phase began). */
export interface IdleOrder extends DrivenOrder {
  confirmedAt?: number;
}

/** The idle phase of one flow, as the result file keeps it. */
export interface IdleLatency {
  flow: Flow;
  /** The mix entry sent (its approved scenario). */
  kind: string;
  /** Orders sent. */
  orders: number;
  /** Orders the read model showed `confirmed`: only these count in the percentiles. */
  confirmed: number;
  /** POST /orders to `confirmed` in the read model. */
  toConfirmedMs?: Percentiles;
  /** The HTTP answer of POST /orders. */
  httpMs?: Percentiles;
  audit: { passed: boolean; checks: AuditCheck[] };
}

/** The percentiles of an idle phase's orders: only those the read model showed `confirmed` count. */
export function summarizeIdle(orders: IdleOrder[]): Pick<IdleLatency, 'orders' | 'confirmed' | 'toConfirmedMs' | 'httpMs'> {
  const confirmed = orders.filter((o) => o.confirmedAt !== undefined);
  return {
    orders: orders.length,
    confirmed: confirmed.length,
    toConfirmedMs: percentiles(confirmed.map((o) => o.confirmedAt! - o.submittedAt)),
    httpMs: percentiles(orders.flatMap((o) => (o.httpMs === null ? [] : [o.httpMs]))),
  };
}

/**
 * Every 10 ms: the figure is tens of milliseconds, so the run's 50 ms polling would add up to a
 * poll's worth of error; one indexed read of two rows every 10 ms costs little on an idle system.
 */
const pollMs = 10;

/**
 * Sends `count` orders of `entry` (the mix's approved scenario) one at a time and times each to
 * `confirmed` in the read model; the next is sent once the previous one reached its final state in
 * orders.orders and the read model holds its whole story, or after `timeoutS`. Audited like a run.
 */
export async function runIdle(sut: SystemUnderTest, flow: Flow, entry: MixEntry, count: number, timeoutS: number): Promise<IdleLatency> {
  const deadLettersBefore = await topicMessages(sut.admin, isDeadLetterTopic);
  const started = performance.now();
  const now = () => performance.now() - started;
  const orders: IdleOrder[] = [];
  for (let i = 0; i < count; i++) {
    // Before the order's clock starts: only the first fetches it from the identity provider, the others reuse it.
    const authorization = await sut.tokens.headers(customerOf(entry.key));
    const order: IdleOrder = { orderId: null, kind: entry.key, flow, scenario: entry.scenario, submittedAt: now(), httpStatus: null, httpMs: null };
    orders.push(order);
    try {
      const response = await fetch(`${sut.apiUrl}/orders`, {
        method: 'POST',
        headers: { ...authorization, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
        body: orderRequestBody(entry, flow),
      });
      order.httpStatus = response.status;
      order.httpMs = now() - order.submittedAt;
      order.orderId = ((await response.json()) as { orderId?: string }).orderId ?? null;
    } catch {
      order.httpMs = now() - order.submittedAt;
    }
    if (order.httpStatus !== 202 || !order.orderId) continue;
    const deadline = now() + timeoutS * 1000;
    while ((order.terminalAt === undefined || order.visibleAt === undefined) && now() < deadline) {
      await sleep(pollMs);
      const { rows } = await sut.pool.query<{ final_status: string | null; view_status: string | null; event_count: number | null }>(
        `select (select status from orders.orders where order_id = $1) as final_status,
                v.status as view_status, v.event_count
           from (select 1) one left join read_model.order_view v on v.order_id = $1`,
        [order.orderId],
      );
      const seenAt = now();
      const row = rows[0]!;
      if (row.view_status === 'confirmed') order.confirmedAt ??= seenAt;
      if (row.final_status === 'confirmed' || row.final_status === 'cancelled') order.terminalAt ??= seenAt;
      if ((row.view_status === 'confirmed' || row.view_status === 'cancelled') && (row.event_count ?? 0) >= entry.scenario.expected.events.length)
        order.visibleAt ??= seenAt;
    }
  }
  const audit = await auditRun(orders, {
    pool: sut.pool,
    gatewayUrl: sut.gatewayUrl,
    before: { deadLetters: deadLettersBefore },
    deadLetters: () => topicMessages(sut.admin, isDeadLetterTopic),
  });
  return { flow, kind: entry.key, ...summarizeIdle(orders), audit };
}
