import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AccessTokens, TokenSubject } from '../platform/access-tokens.ts';

/** One demo order: what to submit and what to do while it runs. */
export interface DemoCase {
  name: string;
  items: { sku: string; quantity: number }[];
  paymentToken: string;
  /** Answer the review, or cancel while it waits. */
  action?: 'approve' | 'reject' | 'cancel';
}

/** A few orders of each kind: each ends differently. */
export const demoCases: DemoCase[] = [
  {
    name: 'approved card',
    items: [
      { sku: 'KB-001', quantity: 2 },
      { sku: 'MS-002', quantity: 1 },
    ],
    paymentToken: 'tok_approve',
  },
  { name: 'declined card', items: [{ sku: 'KB-001', quantity: 1 }], paymentToken: 'tok_decline' },
  { name: 'out of stock', items: [{ sku: 'LTD-006', quantity: 1 }], paymentToken: 'tok_approve' },
  { name: 'gateway fails 3 times', items: [{ sku: 'MS-002', quantity: 1 }], paymentToken: 'tok_fail_3' },
  { name: 'review approved', items: [{ sku: 'LT-004', quantity: 1 }], paymentToken: 'tok_approve', action: 'approve' },
  { name: 'review rejected', items: [{ sku: 'LT-004', quantity: 1 }], paymentToken: 'tok_approve', action: 'reject' },
  { name: 'cancelled in review', items: [{ sku: 'LT-004', quantity: 1 }], paymentToken: 'tok_approve', action: 'cancel' },
];

/** The outcome of one demo order. */
export interface DemoOutcome {
  flow: string;
  name: string;
  orderId: string;
  status: string;
  reason: string | null;
  seconds: number;
  link: string;
}

interface OrderView {
  status?: string;
  reason?: string | null;
}

/**
 * Submits every demo case in both flows through the HTTP API at `baseUrl`, drives the reviews, and
 * waits until each order is confirmed or cancelled in the read model, with tokens from `tokens`
 * (the customer `demo`'s, who also cancels, and an operator's for the reviews).
 */
export async function runDemo(baseUrl: string, tokens: AccessTokens, cases: DemoCase[] = demoCases, timeoutMs = 60_000): Promise<DemoOutcome[]> {
  // The demo customer places and reads its orders; the reviews are an operator's.
  const customer: TokenSubject = { role: 'customer', customerId: 'demo' };
  const call = async <T>(method: string, path: string, body?: unknown, as: TokenSubject = customer): Promise<{ status: number; json: T }> => {
    const response = await fetch(new URL(path, baseUrl), {
      method,
      headers: {
        ...(await tokens.headers(as)),
        ...(body === undefined ? {} : { 'content-type': 'application/json', 'idempotency-key': `demo-${randomUUID()}` }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json()) as T };
  };
  const viewOf = async (orderId: string) => (await call<OrderView>('GET', `/orders/${orderId}`)).json;

  const runs = (['orchestrated', 'choreographed'] as const).flatMap((flow) => cases.map((demo) => ({ flow, demo })));
  return Promise.all(
    runs.map(async ({ flow, demo }): Promise<DemoOutcome> => {
      const started = Date.now();
      const placed = await call<{ orderId: string; links: { status: string; temporalUi?: string } }>('POST', '/orders', {
        customerId: 'demo',
        email: 'demo@example.com',
        items: demo.items,
        paymentToken: demo.paymentToken,
        flow,
      });
      if (placed.status !== 202) throw new Error(`${flow} ${demo.name}: POST /orders answered ${placed.status} ${JSON.stringify(placed.json)}`);
      const { orderId, links } = placed.json;
      let answered = demo.action === undefined;
      let view: OrderView = {};
      while (Date.now() - started < timeoutMs) {
        view = await viewOf(orderId);
        if (!answered && view.status === 'awaiting_review') {
          await call('POST', `/orders/${orderId}/${demo.action}`, undefined, demo.action === 'cancel' ? customer : { role: 'operator' });
          answered = true;
        }
        if (view.status === 'confirmed' || view.status === 'cancelled') break;
        await sleep(200);
      }
      return {
        flow,
        name: demo.name,
        orderId,
        status: view.status ?? 'unknown',
        reason: view.reason ?? null,
        seconds: (Date.now() - started) / 1000,
        link: links.temporalUi ?? new URL(links.status, baseUrl).toString(),
      };
    }),
  );
}

/** The outcomes as a plain-text table. */
export function formatDemo(outcomes: DemoOutcome[]): string {
  const rows = [
    ['flow', 'case', 'status', 'reason', 'seconds', 'link'],
    ...outcomes.map((o) => [o.flow, o.name, o.status, o.reason ?? '', o.seconds.toFixed(1), o.link]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
