/**
 * `npm run bench:contracts`: the CPU one message costs for its contract, in this process, with
 * every schema cached (the steady state): what a consumer spends on a message without the
 * registry (parse, check against the catalog) and with it (also against the writer's schema named
 * by its `schema-id` header), what upcasting a v1 `order.placed` adds, and what a producer spends
 * looking up the id. Needs the schema registry at SCHEMA_REGISTRY_URL (the stack's by default).
 * The end-to-end cost per order is the benchmark's A/B in docs/event-contracts.md.
 */
import { Type } from 'typebox';
import { createEnvelope, validateEnvelope } from '../src/messaging/envelope.ts';
import { registerEventContracts } from '../src/messaging/schema-registry.ts';
import { SchemaRegistryEnv, loadConfig, schemaRegistryOf } from '../src/platform/config.ts';

const messages = 200_000;
const contracts = await registerEventContracts(schemaRegistryOf(loadConfig(Type.Object(SchemaRegistryEnv))));
const common = { orderId: 'o-1', correlationId: 'c-1', flow: 'choreographed' as const };
const events = [
  createEnvelope({
    ...common,
    eventId: 'e-1',
    type: 'order.placed',
    causationId: null,
    producer: 'orders',
    data: { customerId: 'c-1', email: 'pii:v1:0123456789abcdef', items: [{ sku: 'KB-001', quantity: 2 }], payment: { ref: 'payref_1' } },
  }),
  createEnvelope({
    ...common,
    eventId: 'e-2',
    type: 'inventory.reserved',
    causationId: 'e-1',
    producer: 'inventory',
    data: { lines: [{ sku: 'KB-001', quantity: 2, unitPriceCents: 4999, lineTotalCents: 9998 }], total: { amountCents: 9998, currency: 'USD' } },
  }),
  createEnvelope({
    ...common,
    eventId: 'e-3',
    type: 'payment.completed',
    causationId: 'e-2',
    producer: 'payments',
    data: { amount: { amountCents: 9998, currency: 'USD' }, chargeId: 'ch_1' },
  }),
];
const values = events.map((e) => JSON.stringify(e));
const ids = events.map((e) => contracts.schemaIdOf(e.type, e.schemaVersion));
const v1 = JSON.stringify({
  ...events[0],
  schemaVersion: 1,
  data: { customerId: 'c-1', email: 'x', items: [{ sku: 'KB-001', quantity: 2 }], paymentRef: 'payref_1' },
});

/** CPU microseconds per call of `work`, over `messages` calls. */
async function cpuPerCall(work: (i: number) => unknown): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < messages; i += 1) await work(i % events.length);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / messages;
}

for (let round = 1; round <= 3; round += 1) {
  const catalogOnly = await cpuPerCall((i) => validateEnvelope(JSON.parse(values[i]!)));
  const withWriter = await cpuPerCall(async (i) => {
    const value: unknown = JSON.parse(values[i]!);
    await contracts.checkWriterSchema(ids[i]!, value);
    return validateEnvelope(value);
  });
  const upcast = await cpuPerCall(() => validateEnvelope(JSON.parse(v1)));
  const lookup = await cpuPerCall((i) => contracts.schemaIdOf(events[i]!.type, events[i]!.schemaVersion));
  console.log(
    `round ${round}: consume ${catalogOnly.toFixed(2)} µs without the writer's schema, ${withWriter.toFixed(2)} µs with it ` +
      `(+${(withWriter - catalogOnly).toFixed(2)}); a v1 order.placed upcast ${upcast.toFixed(2)} µs; produce: id lookup ${lookup.toFixed(3)} µs`,
  );
}
