/**
 * One order, one trace: for an order in each flow, the spans collected in memory form a single
 * trace from the HTTP request through the workflow (orchestrated) or the outbox (choreographed),
 * every Kafka publish and every consumer's handling, with every parent link intact.
 */
// First: tracing starts before any module loads pg.
import { finishedSpans as exporter, tracing } from './helpers/in-memory-tracing.ts';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { buildApiApp } from '../../src/api/app.ts';
import { testAuth } from './helpers/auth.ts';
import type { ChoreographyHarness } from './helpers/choreography-runtime.ts';
import { startFullRuntime, type FullRuntime } from './helpers/full-runtime.ts';
import { eventually } from './helpers/choreography-scenarios.ts';
import '../setup/servers.ts';

type Api = Awaited<ReturnType<typeof buildApiApp>>;

describe('tracing', () => {
  let harness: ChoreographyHarness;
  let api: Api;
  let runtime: FullRuntime;
  let baseUrl: string;

  beforeAll(async () => {
    runtime = await startFullRuntime(inject('servers'), { tracing });
    ({ harness, api } = runtime);
    await api.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  }, 120_000);

  afterAll(async () => {
    await runtime?.close();
    await tracing?.shutdown();
  });

  /** Places an order over HTTP, waits until the projector has every event of it, and returns its id and timeline. */
  async function placeAndFinish(flow: 'orchestrated' | 'choreographed') {
    // The customer places its order and reads its timeline, with a token of the suite's identity provider.
    const customer = await testAuth(inject('servers')).tokens.headers({ role: 'customer', customerId: 'traced' });
    const response = await fetch(`${baseUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...customer },
      body: JSON.stringify({ customerId: 'traced', email: 'ada@example.com', items: [{ sku: 'KB-001', quantity: 1 }], paymentToken: 'tok_approve', flow }),
    });
    expect(response.status).toBe(202);
    const { orderId } = (await response.json()) as { orderId: string };
    let types: string[] = [];
    await eventually(`the ${flow} order's five events in the read model`, async () => {
      const timeline = (await (await fetch(`${baseUrl}/orders/${orderId}/events`, { headers: customer })).json()) as { events?: { type: string }[] };
      types = (timeline.events ?? []).map((e) => e.type);
      return types.length === 5;
    });
    return { orderId, types };
  }

  /** The spans of the trace rooted at the HTTP request that placed `orderId`. */
  function traceOf(orderId: string): { spans: ReadableSpan[]; root: ReadableSpan } {
    const all = exporter.getFinishedSpans();
    const placing = all.find((s) => s.name.startsWith('publish ') && s.attributes['messaging.kafka.message.key'] === orderId);
    expect(placing, `a publish span for order ${orderId}`).toBeDefined();
    const traceId = placing!.spanContext().traceId;
    const spans = all.filter((s) => s.spanContext().traceId === traceId);
    const roots = spans.filter((s) => !s.parentSpanId);
    expect(
      roots.map((r) => r.name),
      'exactly one root span',
    ).toHaveLength(1);
    return { spans, root: roots[0]! };
  }

  /** True when the projector handled an event of type `type` of `orderId`. */
  const projected = (orderId: string, type: string) =>
    exporter
      .getFinishedSpans()
      .some(
        (s) =>
          s.name === `process ${harness.prefix}${type}` &&
          s.attributes['messaging.kafka.message.key'] === orderId &&
          s.attributes['messaging.consumer.group.name'] === `${harness.prefix}projector`,
      );

  /** Every span's parent is a span of the same trace (no broken link, nothing started a new root). */
  function expectParentsIntact(spans: ReadableSpan[]) {
    const ids = new Set(spans.map((s) => s.spanContext().spanId));
    for (const span of spans) if (span.parentSpanId) expect(ids.has(span.parentSpanId), `parent of ${span.name}`).toBe(true);
  }

  /** The spans below `parent` in `spans`, at any depth. */
  function descendants(spans: ReadableSpan[], parent: ReadableSpan): ReadableSpan[] {
    const children = spans.filter((s) => s.parentSpanId === parent.spanContext().spanId);
    return children.flatMap((child) => [child, ...descendants(spans, child)]);
  }
  const queries = (spans: ReadableSpan[], parent: ReadableSpan) => descendants(spans, parent).filter((s) => s.name.startsWith('pg.query'));

  /** The span `name` (and consumer group, for process spans) in `spans`. */
  const find = (spans: ReadableSpan[], name: string, group?: string) =>
    spans.filter((s) => s.name === name && (group === undefined || s.attributes['messaging.consumer.group.name'] === group));

  it('follows an orchestrated order from the HTTP request through the workflow, its activities, each Kafka publish and the projector', async () => {
    const { orderId, types } = await placeAndFinish('orchestrated');
    await eventually('the projector spans of every event', () => Promise.resolve(types.every((t) => projected(orderId, t))));
    // Workflow spans reach the worker through a sink when their workflow task ends, so the last
    // ones (RunWorkflow, the parent of every step) may arrive after the projector's last span.
    await eventually('the workflow spans, parents of its steps', () => Promise.resolve(find(traceOf(orderId).spans, 'RunWorkflow:placeOrder').length > 0));
    const { spans, root } = traceOf(orderId);
    expect(root.name).toMatch(/POST \/orders|request/);
    expectParentsIntact(spans);
    for (const name of [
      'StartWorkflow:placeOrder',
      'RunWorkflow:placeOrder',
      'StartActivity:chargePayment',
      'RunActivity:chargePayment',
      'RunActivity:notifyCustomer',
    ]) {
      expect(find(spans, name).length, name).toBeGreaterThan(0);
    }
    for (const type of types) {
      const topic = `${harness.prefix}${type}`;
      const [published] = find(spans, `publish ${topic}`);
      expect(published, `publish ${topic}`).toBeDefined();
      // The projector's handling continues the publish span of that very message.
      const processed = find(spans, `process ${topic}`, `${harness.prefix}projector`);
      expect(processed.map((p) => p.parentSpanId)).toContain(published!.spanContext().spanId);
    }
    // The charge's event was published from inside the chargePayment activity.
    const chargeRun = find(spans, 'RunActivity:chargePayment')[0]!;
    expect(find(spans, `publish ${harness.prefix}payment.completed`)[0]!.parentSpanId).toBe(chargeRun.spanContext().spanId);
    // Each activity's PostgreSQL work is in the trace too.
    for (const activity of ['acceptOrder', 'reserveStock', 'chargePayment'])
      expect(queries(spans, find(spans, `RunActivity:${activity}`)[0]!).length, `queries of ${activity}`).toBeGreaterThan(0);
  });

  it('follows a choreographed order from the HTTP request through the outbox, each relay publish and each consumer group', async () => {
    const { orderId, types } = await placeAndFinish('choreographed');
    await eventually('the projector spans of every event', () => Promise.resolve(types.every((t) => projected(orderId, t))));
    const { spans, root } = traceOf(orderId);
    expect(root.name).toMatch(/POST \/orders|request/);
    expectParentsIntact(spans);
    // The first relay publish continues the HTTP request that wrote the outbox row.
    const placed = find(spans, `publish ${harness.prefix}order.placed`)[0]!;
    expect(spans.find((s) => s.spanContext().spanId === placed.parentSpanId)?.spanContext().traceId).toBe(root.spanContext().traceId);
    // Each hop of the choreography: the group that reacts, and the event it emits in turn.
    const hops: [consumed: string, group: string, emitted: string][] = [
      ['order.placed', 'inventory', 'inventory.reserved'],
      ['inventory.reserved', 'payments', 'payment.completed'],
      ['payment.completed', 'orders', 'order.confirmed'],
      ['order.confirmed', 'notifications', 'notification.sent'],
    ];
    for (const [consumed, group, emitted] of hops) {
      const [handling] = find(spans, `process ${harness.prefix}${consumed}`, `${harness.prefix}${group}`);
      expect(handling, `${group} handling ${consumed}`).toBeDefined();
      expect(handling!.parentSpanId).toBe(find(spans, `publish ${harness.prefix}${consumed}`)[0]!.spanContext().spanId);
      // Its transaction (dedupe row, effect, outbox row) is in the trace.
      expect(queries(spans, handling!).length, `queries of ${group}`).toBeGreaterThan(0);
      // The event it emitted went through the outbox; its publish continues this handling.
      expect(find(spans, `publish ${harness.prefix}${emitted}`)[0]!.parentSpanId, `publish ${emitted}`).toBe(handling!.spanContext().spanId);
    }
    for (const type of types)
      expect(find(spans, `process ${harness.prefix}${type}`, `${harness.prefix}projector`).length, `projector on ${type}`).toBeGreaterThan(0);
  });
});
