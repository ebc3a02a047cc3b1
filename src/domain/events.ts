import { Type, type Static, type TSchema } from 'typebox';

const MoneySchema = Type.Object(
  { amountCents: Type.Integer({ minimum: 0 }), currency: Type.String({ minLength: 3, maxLength: 3 }) },
  { additionalProperties: false },
);
const LineSchema = Type.Object({ sku: Type.String({ minLength: 1 }), quantity: Type.Integer({ minimum: 1 }) }, { additionalProperties: false });
const PricedLineSchema = Type.Object(
  {
    sku: Type.String({ minLength: 1 }),
    quantity: Type.Integer({ minimum: 1 }),
    unitPriceCents: Type.Integer({ minimum: 0 }),
    lineTotalCents: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
const CancellationReasonSchema = Type.Union([
  Type.Literal('out_of_stock'),
  Type.Literal('payment_declined'),
  Type.Literal('payment_gateway_unavailable'),
  Type.Literal('review_rejected'),
  Type.Literal('review_timeout'),
  Type.Literal('customer_cancelled'),
  Type.Literal('system_error'),
]);

/**
 * The `data` schema of each event type of the catalog (DESIGN.md "Events"), schema version 1.
 * Additive changes only within a version; a consumer rejects an unknown version.
 */
export const eventDataSchemas = {
  // paymentRef: the reference to the token in the payments vault (never the token), for the
  // payments context of the choreographed flow. paymentToken: what events of orders accepted
  // before the vault carried instead (the gateway's token, never a card number; logs redact it);
  // they are still read, never written.
  'order.placed': Type.Object({
    customerId: Type.String(),
    email: Type.String(),
    items: Type.Array(LineSchema, { minItems: 1 }),
    paymentRef: Type.Optional(Type.String()),
    paymentToken: Type.Optional(Type.String()),
  }),
  'inventory.reserved': Type.Object({ lines: Type.Array(PricedLineSchema, { minItems: 1 }), total: MoneySchema }),
  'inventory.rejected': Type.Object({ reason: Type.Union([Type.Literal('out_of_stock'), Type.Literal('unknown_sku')]), sku: Type.String() }),
  'order.review_requested': Type.Object({ total: MoneySchema }),
  'order.approved': Type.Object({ total: Type.Optional(MoneySchema) }),
  'order.rejected': Type.Object({ reason: Type.Union([Type.Literal('review_rejected'), Type.Literal('review_timeout')]) }),
  'payment.completed': Type.Object({ amount: MoneySchema, chargeId: Type.String() }),
  'payment.failed': Type.Object({
    reason: Type.Union([Type.Literal('payment_declined'), Type.Literal('payment_gateway_unavailable')]),
    message: Type.String(),
  }),
  'order.confirmed': Type.Object({ total: MoneySchema }),
  'order.cancel_requested': Type.Object({ reason: CancellationReasonSchema }),
  'inventory.released': Type.Object({ lines: Type.Array(LineSchema), reason: Type.Optional(CancellationReasonSchema) }),
  'payment.refunded': Type.Object({ amount: MoneySchema, refundId: Type.String() }),
  'order.cancelled': Type.Object({ reason: CancellationReasonSchema }),
  'notification.sent': Type.Object({ template: Type.String(), messageId: Type.String() }),
  // The choreographed payments context's answer to a cancel when nothing was captured: no charge
  // was made (`never_charged`) or the one in flight was declined (`declined`), and none will be.
  'payment.voided': Type.Object({ reason: Type.Union([Type.Literal('never_charged'), Type.Literal('declined')]) }),
} satisfies Record<string, TSchema>;

/** Every event type of the catalog; the Kafka topic of an event is its type. */
export type EventType = keyof typeof eventDataSchemas;

/** The event types, in catalog order. */
export const eventTypes = Object.keys(eventDataSchemas) as EventType[];

/** The payload of an event of type `T`. */
export type EventData<T extends EventType> = Static<(typeof eventDataSchemas)[T]>;

/** Schema version this code writes and the only one it accepts. */
export const currentSchemaVersion = 1;

/** The envelope of an event of type `T` (DESIGN.md "Events"). */
export interface EnvelopeOf<T extends EventType> {
  eventId: string;
  type: T;
  schemaVersion: number;
  occurredAt: string;
  orderId: string;
  correlationId: string;
  /** The event (or command) that caused this one; null for the first event of an order. */
  causationId: string | null;
  /** The context that produced it, e.g. `inventory`. */
  producer: string;
  flow: 'orchestrated' | 'choreographed';
  data: EventData<T>;
}

/**
 * The envelope every event travels in: a union over the catalog (`EnvelopeOf<T>` for each type),
 * discriminated by `type`, so that checking `event.type` types `event.data`. `EventEnvelope<T>`
 * is the envelope of type `T` (of each type, for a union `T`). Written as a distributive
 * conditional type, not `{ [K in T]: EnvelopeOf<K> }[T]`: TypeScript sees that an
 * `EventEnvelope<T>` of a generic `T` is an `EventEnvelope`, so generic code needs no cast.
 */
export type EventEnvelope<T extends EventType = EventType> = T extends EventType ? EnvelopeOf<T> : never;

/** Schema of the envelope, with `data` checked separately against its type's schema. */
export const EnvelopeSchema = Type.Object({
  eventId: Type.String({ minLength: 1 }),
  // Checked against the catalog by the validator, which then checks `data` against its type.
  type: Type.String({ minLength: 1 }),
  schemaVersion: Type.Integer({ minimum: 1 }),
  occurredAt: Type.String({ minLength: 1 }),
  orderId: Type.String({ minLength: 1 }),
  correlationId: Type.String({ minLength: 1 }),
  causationId: Type.Union([Type.String(), Type.Null()]),
  producer: Type.String({ minLength: 1 }),
  flow: Type.Union([Type.Literal('orchestrated'), Type.Literal('choreographed')]),
  data: Type.Record(Type.String(), Type.Unknown()),
});
