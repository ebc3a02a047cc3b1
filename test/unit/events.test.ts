import { describe, expect, expectTypeOf, it } from 'vitest';
import { InvalidEventError } from '../../src/domain/errors.ts';
import { currentSchemaVersions, type EventData, type EventEnvelope } from '../../src/domain/events.ts';
import { canTransition, isFinal, needsReview } from '../../src/domain/order.ts';
import { handlerFor, type EventHandler, type EventHandlers, type HandlerContext } from '../../src/messaging/consumer-runner.ts';
import { createEnvelope, validateEnvelope } from '../../src/messaging/envelope.ts';
import { deterministicEventId } from '../../src/messaging/event-ids.ts';

const placed = () =>
  createEnvelope({
    eventId: 'e-1',
    type: 'order.placed',
    orderId: 'o-1',
    correlationId: 'c-1',
    causationId: null,
    producer: 'orders',
    flow: 'orchestrated',
    data: { customerId: 'cu-1', email: 'ada@example.com', items: [{ sku: 'KB-001', quantity: 1 }] },
  });

describe('event envelope', () => {
  it("stamps the type's current schema version and accepts what it built", () => {
    const event = placed();
    expect(event.schemaVersion).toBe(currentSchemaVersions['order.placed']);
    expect(currentSchemaVersions['order.placed']).toBe(2);
    expect(currentSchemaVersions['payment.completed']).toBe(1);
    expect(validateEnvelope(JSON.parse(JSON.stringify(event)))).toEqual(event);
  });

  it.each([
    ['a vault reference', { paymentRef: 'payref_1' }, { payment: { ref: 'payref_1' } }],
    ['a pre-vault token', { paymentToken: 'tok_approve' }, { payment: { legacyToken: 'tok_approve' } }],
    ['no payment (the orchestrated flow)', {}, {}],
  ])('upcasts order.placed v1 with %s to the current shape', (_what, v1Payment, v2Payment) => {
    const base = { customerId: 'cu-1', email: 'ada@example.com', items: [{ sku: 'KB-001', quantity: 1 }] };
    const v1 = { ...placed(), schemaVersion: 1, data: { ...base, ...v1Payment } };
    expect(validateEnvelope(JSON.parse(JSON.stringify(v1)))).toEqual({ ...placed(), occurredAt: v1.occurredAt, data: { ...base, ...v2Payment } });
  });

  it('refuses a v1 field in a v2 event, and a v2 field in a v1 event (each version is closed)', () => {
    const base = { customerId: 'cu-1', email: 'ada@example.com', items: [{ sku: 'KB-001', quantity: 1 }] };
    expect(() => validateEnvelope({ ...placed(), data: { ...base, paymentRef: 'payref_1' } })).toThrow(/order\.placed v2 data: .*paymentRef/);
    expect(() => validateEnvelope({ ...placed(), schemaVersion: 1, data: { ...base, payment: { ref: 'payref_1' } } })).toThrow(
      /order\.placed v1 data: .*payment/,
    );
  });

  it.each([
    ['a missing field', (e: Record<string, unknown>) => ({ ...e, orderId: undefined }), /orderId/],
    ['an unknown type', (e: Record<string, unknown>) => ({ ...e, type: 'order.exploded' }), /unknown event type order\.exploded/],
    [
      'an unknown schema version',
      (e: Record<string, unknown>) => ({ ...e, schemaVersion: 3 }),
      /unknown schema version 3 of order\.placed \(this code reads versions 1 to 2\)/,
    ],
    [
      'data that does not fit its type',
      (e: Record<string, unknown>) => ({ ...e, data: { customerId: 'x', email: 'y', items: [] } }),
      /order\.placed v2 data: \/items/,
    ],
  ])('rejects %s, saying what is wrong', (_what, mutate, message) => {
    const bad = mutate(placed() as unknown as Record<string, unknown>);
    expect(() => validateEnvelope(bad)).toThrow(InvalidEventError);
    expect(() => validateEnvelope(bad)).toThrow(message);
  });

  it('rejects a valid event of another type than the one expected', () => {
    // One event: two calls of placed() may fall on two milliseconds.
    const event = placed();
    expect(() => validateEnvelope(event, 'payment.completed')).toThrow(/order\.placed where payment\.completed was expected/);
    expect(validateEnvelope(event, 'order.placed')).toEqual(event);
  });

  it("types an event's data by its type: a handler, or a check of the type, needs no cast (checked by tsc)", async () => {
    const charges: string[] = [];
    const handlers: EventHandlers = {
      'payment.completed': (event) => {
        expectTypeOf(event.data).toEqualTypeOf<EventData<'payment.completed'>>();
        charges.push(event.data.chargeId);
        return Promise.resolve();
      },
    };
    const event: EventEnvelope = validateEnvelope(
      JSON.parse(
        JSON.stringify({ ...placed(), type: 'payment.completed', schemaVersion: 1, data: { amount: { amountCents: 1, currency: 'USD' }, chargeId: 'ch-1' } }),
      ),
    );
    if (event.type === 'payment.completed') {
      expectTypeOf(event).toEqualTypeOf<EventEnvelope<'payment.completed'>>();
      await handlerFor(handlers, event.type)?.(event, {} as HandlerContext);
    }
    expectTypeOf(handlerFor(handlers, 'order.placed')).toEqualTypeOf<EventHandler<'order.placed'> | undefined>();
    expect(charges).toEqual(['ch-1']);
  });

  it('derives the same event id from the same saga and step, and another from another step', () => {
    const id = deterministicEventId('order-1', 'charge_payment', 'payment.completed');
    expect(deterministicEventId('order-1', 'charge_payment', 'payment.completed')).toBe(id);
    expect(deterministicEventId('order-2', 'charge_payment', 'payment.completed')).not.toBe(id);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('order state machine', () => {
  it('moves forward along pending → reserved → [awaiting_review →] paid → confirmed', () => {
    expect(canTransition('pending', 'reserved')).toBe(true);
    expect(canTransition('reserved', 'awaiting_review')).toBe(true);
    expect(canTransition('reserved', 'paid')).toBe(true);
    expect(canTransition('awaiting_review', 'paid')).toBe(true);
    expect(canTransition('paid', 'confirmed')).toBe(true);
  });

  it('cancels from any state before confirmation, and never leaves a final state', () => {
    for (const from of ['pending', 'reserved', 'awaiting_review', 'paid'] as const) expect(canTransition(from, 'cancelled')).toBe(true);
    expect(canTransition('confirmed', 'cancelled')).toBe(false);
    expect(canTransition('cancelled', 'reserved')).toBe(false);
    expect([isFinal('confirmed'), isFinal('cancelled'), isFinal('paid')]).toEqual([true, true, false]);
    expect(canTransition('pending', 'paid')).toBe(false);
  });

  it('reviews orders at or above 1,000.00', () => {
    expect(needsReview({ amountCents: 99_999, currency: 'USD' })).toBe(false);
    expect(needsReview({ amountCents: 100_000, currency: 'USD' })).toBe(true);
  });
});
