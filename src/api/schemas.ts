import { Type, type Static, type TStringOptions } from 'typebox';
import type { OrderStatus } from '../domain/order.ts';

/** Characters PostgreSQL cannot store in text or jsonb: U+0000, and a UTF-16 surrogate alone. */
// eslint-disable-next-line no-control-regex -- U+0000 is one of the characters it looks for
const unstorable = /[\u0000\p{Cs}]/u;

/**
 * The format of text PostgreSQL can store: no U+0000 (text and jsonb refuse it, SQLSTATE
 * 22021/22P05) and no unpaired surrogate (a JSON body may escape one, `"\ud800"`; jsonb refuses
 * it). Registered with the API's validator; every string the API takes is a {@link Text}.
 */
export const storableText = { format: 'storable-text', validate: (value: string) => !unstorable.test(value) };

/** No U+0000 (see {@link Text}). */
export const storableTextPattern = '^[^\\u0000]*$';

/**
 * A string the database can store: a 400 naming the field otherwise, never a database error.
 * The pattern says the NUL part in terms every JSON Schema tool understands, so that request
 * generators (the fuzz test's schemathesis) draw valid values; the format adds the surrogates,
 * which no pattern can say both to JavaScript's and to Rust's or Python's regex engines.
 */
export const Text = (options: TStringOptions = {}) => Type.String({ pattern: storableTextPattern, format: storableText.format, ...options });

/** Every status of an order, for the schemas (the compile-time check below keeps it complete). */
export const orderStatuses = ['pending', 'reserved', 'awaiting_review', 'paid', 'confirmed', 'cancelled'] as const satisfies readonly OrderStatus[];
// Fails to compile when OrderStatus gains a status this list lacks.
const everyStatusListed: Exclude<OrderStatus, (typeof orderStatuses)[number]> extends never ? true : never = true;
void everyStatusListed;

/**
 * The flow that runs an order. An enum rather than a union of literals: a wrong value is then
 * answered "must be one of orchestrated, choreographed" instead of "must be equal to constant".
 */
export const Flow = Type.Enum(['orchestrated', 'choreographed']);

/** The one error shape of the API. */
export const Problem = Type.Object(
  { statusCode: Type.Integer(), code: Type.String(), error: Type.String(), message: Type.String() },
  { $id: 'Problem', description: 'Every error the API answers' },
);

export const OrderLineBody = Type.Object(
  {
    sku: Type.String({ minLength: 1, maxLength: 40, pattern: '^[A-Z0-9-]+$', description: 'a catalog SKU, e.g. KB-001' }),
    quantity: Type.Integer({ minimum: 1, maximum: 100 }),
  },
  { additionalProperties: false },
);

/** Body of POST /orders. Prices come from the catalog, never from here. */
export const PlaceOrderBody = Type.Object(
  {
    customerId: Text({ minLength: 1, maxLength: 100 }),
    email: Text({ format: 'email', maxLength: 254 }),
    items: Type.Array(OrderLineBody, { minItems: 1, maxItems: 20 }),
    paymentToken: Text({ minLength: 1, maxLength: 100 }),
    flow: Flow,
  },
  {
    additionalProperties: false,
    examples: [{ customerId: 'c1', email: 'ada@example.com', items: [{ sku: 'KB-001', quantity: 2 }], paymentToken: 'tok_approve', flow: 'orchestrated' }],
  },
);
export type PlaceOrderBody = Static<typeof PlaceOrderBody>;

/** A duration for people: `24 h`, `90 d`, `15 min`, `30 s`, `1500 ms` (the largest unit it is a whole number of, days from 2). */
export function readableDuration(ms: number): string {
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['min', 60_000],
    ['s', 1000],
  ];
  const [unit, size] = units.find(([unit, size]) => ms % size === 0 && (unit !== 'd' || ms >= 2 * size)) ?? ['ms', 1];
  return `${ms / size} ${unit}`;
}

/** The Idempotency-Key header of POST /orders, which states how long a key is remembered (API_IDEMPOTENCY_KEY_TTL_MS). */
export const idempotencyHeaders = (ttlMs: number) =>
  Type.Object({
    'idempotency-key': Type.String({
      minLength: 8,
      maxLength: 200,
      pattern: '^[A-Za-z0-9._:-]+$',
      description:
        `a key of your choosing: the same key and body return the same answer for ${readableDuration(ttlMs)} from the key's first request ` +
        '(API_IDEMPOTENCY_KEY_TTL_MS); after that the key is unknown, and a request with it places a new order',
      examples: ['order-2026-0001'],
    }),
  });

export const OrderLinks = Type.Object({ status: Type.String(), events: Type.String(), temporalUi: Type.Optional(Type.String()) });

export const PlaceOrderResponse = Type.Object({ orderId: Type.String(), flow: Type.String(), links: OrderLinks });

export const OrderIdParams = Type.Object({ id: Text({ minLength: 1, maxLength: 100 }) });

export const OrderViewResponse = Type.Object({
  orderId: Type.String(),
  flow: Type.String(),
  status: Type.String(),
  reason: Type.Union([Type.String(), Type.Null()]),
  customerId: Type.Union([Type.String(), Type.Null()]),
  total: Type.Union([Type.Object({ amountCents: Type.Integer(), currency: Type.String() }), Type.Null()]),
  paymentStatus: Type.Union([Type.String(), Type.Null()]),
  stockStatus: Type.Union([Type.String(), Type.Null()]),
  notified: Type.Boolean(),
  updatedAt: Type.String(),
  source: Type.Union([Type.Literal('read-model'), Type.Literal('workflow')]),
  consistency: Type.String({ description: 'the read model is eventually consistent; ?source=workflow reads the saga live' }),
  links: OrderLinks,
});

export const TimelineResponse = Type.Object({
  orderId: Type.String(),
  events: Type.Array(
    Type.Object({
      eventId: Type.String(),
      type: Type.String(),
      occurredAt: Type.String(),
      producer: Type.String(),
      flow: Type.String(),
      causationId: Type.Union([Type.String(), Type.Null()]),
      correlationId: Type.String(),
      data: Type.Unknown(),
    }),
  ),
});

export const ListQuery = Type.Object(
  {
    status: Type.Optional(Type.Enum([...orderStatuses])),
    customerId: Type.Optional(Text({ maxLength: 100 })),
    flow: Type.Optional(Flow),
    limit: Type.Optional(Type.String({ pattern: '^(?:[1-9]|[1-9][0-9]|100)$', description: '1 to 100, default 20' })),
    // base64url of an order id (at most 100 characters, 4 bytes each in UTF-8): 534 characters.
    cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 534, description: 'the nextCursor of the previous page (opaque)' })),
  },
  { additionalProperties: false },
);
