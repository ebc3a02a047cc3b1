import { Type, type Static, type TProperties, type TSchema } from 'typebox';

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

/** A closed object: a field the schema does not name is refused (docs/event-contracts.md says why). */
const Closed = <P extends TProperties>(properties: P) => Type.Object(properties, { additionalProperties: false });

/**
 * `order.placed` in schema version 1: the payment as one of two optional fields. `paymentRef` is
 * the vault's reference (never the token); `paymentToken` is what orders accepted before the vault
 * carried instead (the gateway's token, never a card number). Read (upcast to version 2), never written.
 */
export const OrderPlacedV1Schema = Closed({
  customerId: Type.String(),
  email: Type.String(),
  items: Type.Array(LineSchema, { minItems: 1 }),
  paymentRef: Type.Optional(Type.String()),
  paymentToken: Type.Optional(Type.String()),
});

/**
 * How the payments context charges an order: the vault's reference, or (only in an event upcast
 * from version 1 of an order accepted before the vault) the gateway token it carried.
 */
const PaymentInstrumentSchema = Type.Union([Closed({ ref: Type.String({ minLength: 1 }) }), Closed({ legacyToken: Type.String({ minLength: 1 }) })]);

/**
 * The `data` schema of each event type of the catalog (DESIGN.md "Events") in its current schema
 * version ({@link currentSchemaVersions}). Every object is closed. A compatible change (a new
 * optional field) stays within a version; any other change is a new version, registered under a
 * subject of its own, with an upcaster from the one before (src/messaging/upcasters.ts). The
 * versions before the current one are in {@link earlierEventDataSchemas}.
 */
export const eventDataSchemas = {
  // Version 2: the payment in one field whose shape says what it is (version 1 had two optional
  // fields). The orchestrated flow's event carries none: its workflow charges the order itself.
  'order.placed': Closed({
    customerId: Type.String(),
    email: Type.String(),
    items: Type.Array(LineSchema, { minItems: 1 }),
    payment: Type.Optional(PaymentInstrumentSchema),
  }),
  'inventory.reserved': Closed({ lines: Type.Array(PricedLineSchema, { minItems: 1 }), total: MoneySchema }),
  'inventory.rejected': Closed({ reason: Type.Union([Type.Literal('out_of_stock'), Type.Literal('unknown_sku')]), sku: Type.String() }),
  'order.review_requested': Closed({ total: MoneySchema }),
  'order.approved': Closed({ total: Type.Optional(MoneySchema) }),
  'order.rejected': Closed({ reason: Type.Union([Type.Literal('review_rejected'), Type.Literal('review_timeout')]) }),
  'payment.completed': Closed({ amount: MoneySchema, chargeId: Type.String() }),
  'payment.failed': Closed({
    reason: Type.Union([Type.Literal('payment_declined'), Type.Literal('payment_gateway_unavailable')]),
    message: Type.String(),
  }),
  'order.confirmed': Closed({ total: MoneySchema }),
  'order.cancel_requested': Closed({ reason: CancellationReasonSchema }),
  'inventory.released': Closed({ lines: Type.Array(LineSchema), reason: Type.Optional(CancellationReasonSchema) }),
  'payment.refunded': Closed({ amount: MoneySchema, refundId: Type.String() }),
  'order.cancelled': Closed({ reason: CancellationReasonSchema }),
  'notification.sent': Closed({ template: Type.String(), messageId: Type.String() }),
  // The choreographed payments context's answer to a cancel when nothing was captured: no charge
  // was made (`never_charged`) or the one in flight was declined (`declined`), and none will be.
  'payment.voided': Closed({ reason: Type.Union([Type.Literal('never_charged'), Type.Literal('declined')]) }),
} satisfies Record<string, TSchema>;

/** Every event type of the catalog; the Kafka topic of an event is its type. */
export type EventType = keyof typeof eventDataSchemas;

/** The event types, in catalog order. */
export const eventTypes = Object.keys(eventDataSchemas) as EventType[];

/** The payload of an event of type `T`. */
export type EventData<T extends EventType> = Static<(typeof eventDataSchemas)[T]>;

/**
 * The data schemas of the versions before the current one, by type and version: what this code
 * still reads (and upcasts), never writes. A type without an entry has had one version only.
 */
export const earlierEventDataSchemas: { readonly [T in EventType]?: Readonly<Record<number, TSchema>> } = {
  'order.placed': { 1: OrderPlacedV1Schema },
};

/** The schema version this code writes of each type: one past its earlier versions. */
export const currentSchemaVersions: Readonly<Record<EventType, number>> = Object.fromEntries(
  eventTypes.map((type) => [type, Object.keys(earlierEventDataSchemas[type] ?? {}).length + 1]),
) as Record<EventType, number>;

/** The data schema of `type` in `version`; undefined for a version this code does not know. */
export function eventDataSchemaOf(type: EventType, version: number): TSchema | undefined {
  if (version === currentSchemaVersions[type]) return eventDataSchemas[type];
  return earlierEventDataSchemas[type]?.[version];
}

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
