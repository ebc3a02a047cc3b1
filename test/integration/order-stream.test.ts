/**
 * GET /orders/:id/stream: the read model's changes, live, as server-sent events fed by the
 * projector's NOTIFY (what the web console's side-by-side timelines follow). Each snapshot comes
 * after a change is committed; a customer gets only its own orders; a listener whose database
 * connection is killed listens again and misses no end.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { TokenSubject } from '../../src/platform/access-tokens.ts';
import { orderChangedChannel } from '../../src/projections/order-changes.ts';
import { testAuth } from './helpers/auth.ts';
import { eventually } from './helpers/choreography-scenarios.ts';
import { startFullRuntime, type FullRuntime } from './helpers/full-runtime.ts';
import '../setup/servers.ts';

interface Snapshot {
  order: { orderId: string; status: string; flow: string };
  events: { type: string; eventId: string }[];
}

const servers = inject('servers');

describe('GET /orders/:id/stream', () => {
  let runtime: FullRuntime;
  let baseUrl: string;
  const tokens = testAuth(servers).tokens;

  beforeAll(async () => {
    runtime = await startFullRuntime(servers);
    baseUrl = await runtime.api.listen({ host: '127.0.0.1', port: 0 });
  }, 120_000);

  afterAll(() => runtime?.close());

  const place = async (flow: string, customerId = 'stream-1', paymentToken = 'tok_approve') => {
    const placed = await runtime.api.inject({
      method: 'POST',
      url: '/orders',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      payload: { customerId, email: 'ada@example.com', items: [{ sku: 'KB-001', quantity: 1 }], paymentToken, flow },
    });
    expect(placed.statusCode).toBe(202);
    return placed.json<{ orderId: string }>().orderId;
  };

  /** Opens the stream as `caller` and collects its snapshots until `until` says stop (or the stream ends). */
  async function follow(orderId: string, until: (s: Snapshot) => boolean, caller: TokenSubject = { role: 'operator' }) {
    const response = await fetch(`${baseUrl}/orders/${orderId}/stream`, { headers: await tokens.headers(caller), signal: AbortSignal.timeout(60_000) });
    const snapshots: Snapshot[] = [];
    /** Whether the server ended the stream. */
    let ended = false;
    if (!response.ok || !response.body) return { response, snapshots, ended };
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          ended = true;
          break;
        }
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').find((line) => line.startsWith('data: '));
          if (block.startsWith('event: order') && data) snapshots.push(JSON.parse(data.slice(6)) as Snapshot);
        }
        if (snapshots.length > 0 && until(snapshots[snapshots.length - 1]!)) break;
      }
    } finally {
      await reader.cancel();
    }
    return { response, snapshots, ended };
  }

  it.each(['orchestrated', 'choreographed'])(
    'sends a %s order as it changes, each snapshot after a commit, and ends once it is confirmed and emailed',
    async (flow) => {
      const orderId = await place(flow);
      // Opened at once: the order may not be in the read model yet, and the stream waits for it.
      // Followed until the server ends the stream: it does once the order has ended and its email is out.
      const { response, snapshots, ended } = await follow(orderId, () => false);
      expect(ended).toBe(true);
      expect(snapshots[snapshots.length - 1]!.events.map((e) => e.type)).toContain('notification.sent');
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      const last = snapshots[snapshots.length - 1]!;
      expect(last.order).toMatchObject({ orderId, flow, status: 'confirmed' });
      // More than one snapshot: the changes came live, not in one answer at the end.
      expect(snapshots.length).toBeGreaterThan(1);
      // Each snapshot holds every event of the one before it: the timeline only grows.
      for (let i = 1; i < snapshots.length; i += 1) {
        const ids = new Set(snapshots[i]!.events.map((e) => e.eventId));
        expect(snapshots[i - 1]!.events.every((e) => ids.has(e.eventId))).toBe(true);
      }
      // The last snapshot is what the read model answers.
      const events = (await runtime.api.inject({ method: 'GET', url: `/orders/${orderId}/events` })).json<{ events: { eventId: string }[] }>().events;
      expect(last.events.map((e) => e.eventId).sort()).toEqual(events.map((e) => e.eventId).sort());
    },
  );

  it("answers another customer's order 404, as one that does not exist", async () => {
    const orderId = await place('choreographed', 'stream-owner');
    await eventually('the order in the read model', async () => (await runtime.api.inject({ method: 'GET', url: `/orders/${orderId}` })).statusCode === 200);
    const { response } = await follow(orderId, () => true, { role: 'customer', customerId: 'stream-someone-else' });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { code: string }).code).toBe('ORDER_NOT_FOUND');
    const own = await follow(orderId, () => true, { role: 'customer', customerId: 'stream-owner' });
    expect(own.response.status).toBe(200);
    expect(own.snapshots[0]?.order.orderId).toBe(orderId);
  });

  it('answers 404 for an order that never reaches the read model, after waiting for it', async () => {
    const { response } = await follow(randomUUID(), () => true);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { message: string }).message).toMatch(/is not in the read model \(it waited 10 s for it\)/);
  });

  it('listens again when its database connection is killed, and still brings the order to its end', async () => {
    // A slow payment: the order is still running when the API's LISTEN connection goes.
    const orderId = await place('choreographed', 'stream-1', 'tok_slow_3000');
    const admin = new pg.Client({ connectionString: servers.databaseUrl });
    await admin.connect();
    try {
      const followed = follow(orderId, (s) => s.order.status === 'confirmed');
      await eventually('the API listening', async () => {
        const { rows } = await admin.query<{ pid: number }>('select pid from pg_stat_activity where query = $1', [`listen ${orderChangedChannel}`]);
        if (rows.length === 0) return false;
        await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where query = $1', [`listen ${orderChangedChannel}`]);
        return true;
      });
      const { snapshots } = await followed;
      expect(snapshots[snapshots.length - 1]?.order.status).toBe('confirmed');
    } finally {
      await admin.end();
    }
  });
});
