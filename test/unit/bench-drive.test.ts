import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driveOrders, type TokenSource } from '../../bench/drive.ts';
import { defaultMix } from '../../bench/mix.ts';
import type { TokenSubject } from '../../src/platform/access-tokens.ts';

/** A stand-in API: answers every POST /orders 202 with a new order id, and keeps what it was sent. */
const received: { headers: IncomingHttpHeaders; body: { customerId: string } }[] = [];
const api = createServer((request, response) => {
  let body = '';
  request.on('data', (chunk: Buffer) => (body += chunk.toString()));
  request.on('end', () => {
    received.push({ headers: request.headers, body: JSON.parse(body) as { customerId: string } });
    response.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ orderId: `order-${received.length}` }));
  });
});
let apiUrl = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => api.close(() => resolve())));

/** Tokens that name their subject, and the subjects asked for. */
function namingTokens(): TokenSource & { asked: TokenSubject[] } {
  const asked: TokenSubject[] = [];
  return {
    asked,
    headers: (subject: TokenSubject) => {
      asked.push(subject);
      return Promise.resolve({ authorization: `Bearer ${subject.role === 'customer' ? `customer:${subject.customerId}` : 'operator'}` });
    },
  };
}

/** A pool whose read of final states says every order asked about has ended, with its whole story. */
const everyOrderEnded = {
  query: (_sql: string, [ids]: [string[]]) => Promise.resolve({ rows: ids.map((id) => ({ order_id: id, event_count: 99 })) }),
} as unknown as pg.Pool;

describe('the benchmark driver', () => {
  it('places every order with a bearer token of the customer its body names, asking for each customer token before the clock starts', async () => {
    received.length = 0;
    const tokens = namingTokens();
    const schedule = defaultMix;
    const { orders } = await driveOrders({ apiUrl, tokens, pool: everyOrderEnded, flow: 'choreographed', rate: 100, durationS: 0.04, drainS: 0, schedule });

    expect(orders.map((o) => o.httpStatus)).toEqual([202, 202, 202, 202]);
    expect(received.map((r) => r.headers.authorization)).toEqual(received.map((r) => `Bearer customer:${r.body.customerId}`));
    expect(received.map((r) => r.body.customerId).sort()).toEqual(defaultMix.map((m) => `bench-${m.key}`).sort());
    // The first asks, one per customer, come before any order was sent.
    expect(tokens.asked.slice(0, defaultMix.length)).toEqual(defaultMix.map((m) => ({ role: 'customer', customerId: `bench-${m.key}` })));
  });
});
