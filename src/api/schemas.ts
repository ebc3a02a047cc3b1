import { Type, type Static, type TStringOptions } from 'typebox';

/**
 * Text PostgreSQL can store: no U+0000 (text and jsonb refuse it, SQLSTATE 22021/22P05) and no
 * unpaired UTF-16 surrogate (jsonb refuses its escape). Every string the API takes is a
 * {@link Text}, so such input is a 400 naming the field, never a database error.
 * ajv compiles patterns with the `u` flag, so a surrogate pair is one code point and passes.
 */
export const storableTextPattern = '^[^\\u0000\\uD800-\\uDFFF]*$';

/** A string of text the database can store (see {@link storableTextPattern}). */
export const Text = (options: TStringOptions = {}) => Type.String({ pattern: storableTextPattern, ...options });

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
    flow: Type.Union([Type.Literal('orchestrated'), Type.Literal('choreographed')]),
  },
  { additionalProperties: false },
);
export type PlaceOrderBody = Static<typeof PlaceOrderBody>;

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.String({ minLength: 8, maxLength: 200, pattern: '^[A-Za-z0-9._:-]+$', description: 'a key of your choosing: the same key and body return the same answer' }),
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
    status: Type.Optional(Text({ maxLength: 30 })),
    customerId: Type.Optional(Text({ maxLength: 100 })),
    flow: Type.Optional(Type.Union([Type.Literal('orchestrated'), Type.Literal('choreographed')])),
    limit: Type.Optional(Type.String({ pattern: '^(?:[1-9]|[1-9][0-9]|100)$', description: '1 to 100, default 20' })),
    cursor: Type.Optional(Text({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
