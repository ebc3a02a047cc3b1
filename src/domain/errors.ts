/**
 * The failures of the order saga. Each class has a stable code (never reused), says whether a
 * retry can help, and carries typed context. At the Temporal boundary the code becomes the
 * `ApplicationFailure` type, and retry policies key on it; at HTTP it becomes the `code` field.
 * docs/errors.md documents every code, and a test holds the two together.
 */
export abstract class OrderSagaError extends Error {
  /** Stable code of this failure. */
  abstract readonly code: ErrorCode;
  /** True when the same call may succeed later (a gateway outage), false for business failures. */
  abstract readonly retryable: boolean;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Thrown when the catalog holds less stock of a SKU than the order asks for. */
export class OutOfStockError extends OrderSagaError {
  readonly code = 'OUT_OF_STOCK';
  readonly retryable = false;
  constructor(
    readonly sku: string,
    readonly requested: number,
    readonly available: number,
  ) {
    super(`${sku}: ${requested} requested, ${available} in stock`);
  }
}

/** Thrown when an order names a SKU that is not in the catalog. */
export class UnknownSkuError extends OrderSagaError {
  readonly code = 'UNKNOWN_SKU';
  readonly retryable = false;
  constructor(readonly sku: string) {
    super(`unknown SKU ${sku}`);
  }
}

/** Thrown when the payment gateway declines a charge (a business answer: never retried). */
export class PaymentDeclinedError extends OrderSagaError {
  readonly code = 'PAYMENT_DECLINED';
  readonly retryable = false;
  constructor(
    readonly orderId: string,
    readonly gatewayMessage: string,
  ) {
    super(`payment for order ${orderId} declined: ${gatewayMessage}`);
  }
}

/** Thrown when the payment gateway cannot be reached or answers 5xx; retried with backoff. */
export class PaymentGatewayUnavailableError extends OrderSagaError {
  readonly code = 'PAYMENT_GATEWAY_UNAVAILABLE';
  readonly retryable = true;
  constructor(
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`payment gateway unavailable: ${detail}`, options);
  }
}

/** Thrown when an order id is submitted again with different contents. */
export class OrderConflictError extends OrderSagaError {
  readonly code = 'ORDER_CONFLICT';
  readonly retryable = false;
  constructor(readonly orderId: string) {
    super(`order ${orderId} already exists with different contents`);
  }
}

/** Thrown when no order has the given id. */
export class OrderNotFoundError extends OrderSagaError {
  readonly code = 'ORDER_NOT_FOUND';
  readonly retryable = false;
  constructor(readonly orderId: string) {
    super(`order ${orderId} not found`);
  }
}

/** Thrown when a command does not fit the order's state (cancel a confirmed order, approve twice). */
export class OrderStateConflictError extends OrderSagaError {
  readonly code = 'ORDER_STATE_CONFLICT';
  readonly retryable = false;
  constructor(
    readonly orderId: string,
    readonly status: string,
    readonly command: string,
    /** Why, when the status alone does not say it (an order still `awaiting_review` whose review was answered a moment ago). */
    readonly why?: string,
  ) {
    super(`order ${orderId} is ${status}: ${command} is not allowed${why ? `: ${why}` : ''}`);
  }
}

/** Thrown when the SMTP server does not accept a notification; retried. */
export class NotificationFailedError extends OrderSagaError {
  readonly code = 'NOTIFICATION_FAILED';
  readonly retryable = true;
  constructor(
    readonly orderId: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`notification for order ${orderId} failed: ${detail}`, options);
  }
}

/** Thrown when an event cannot be published to Kafka; retried (the event id stays the same). */
export class EventPublishFailedError extends OrderSagaError {
  readonly code = 'EVENT_PUBLISH_FAILED';
  readonly retryable = true;
  constructor(
    readonly eventType: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`publishing ${eventType} failed: ${detail}`, options);
  }
}

/** Thrown when an event does not match its schema (on publish or on consume). */
export class InvalidEventError extends OrderSagaError {
  readonly code = 'INVALID_EVENT';
  readonly retryable = false;
  constructor(readonly problems: string) {
    super(`invalid event: ${problems}`);
  }
}

/**
 * Thrown when the schema registry cannot be reached (or answers 5xx) for a schema this process
 * has not cached yet: retried until it answers, since the message itself may be fine.
 */
export class SchemaRegistryUnavailableError extends OrderSagaError {
  readonly code = 'SCHEMA_REGISTRY_UNAVAILABLE';
  readonly retryable = true;
  constructor(
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`the schema registry is unavailable: ${detail}`, options);
  }
}

/**
 * Thrown when the database refuses a value for good (SQLSTATE class 22, such as a NUL character
 * in text, or an integrity violation the code did not expect): the same write fails on every
 * retry, so it is not retried; the saga compensates, the consumer dead-letters the event.
 */
export class DataRejectedError extends OrderSagaError {
  readonly code = 'DATA_REJECTED';
  readonly retryable = false;
  constructor(
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`the database rejected the data: ${detail}`, options);
  }
}

/**
 * Thrown when a consumer gets an event older than its dedupe window (src/messaging/dedupe-window.ts):
 * its dedupe row may be gone, so the group cannot tell whether it applied it, and applies nothing.
 * The event is dead-lettered; a replay of it stays refused (its time does not change).
 */
export class EventOutsideDedupeWindowError extends OrderSagaError {
  readonly code = 'EVENT_OUTSIDE_DEDUPE_WINDOW';
  readonly retryable = false;
  constructor(
    readonly occurredAt: string,
    readonly windowStart: string,
  ) {
    super(
      `the event occurred at ${occurredAt}, before the dedupe window (events since ${windowStart}): the group cannot tell whether it applied it, so it applies nothing`,
    );
  }
}

/** Every error code, with whether a retry can help. */
export const errorCodes = {
  OUT_OF_STOCK: { retryable: false },
  UNKNOWN_SKU: { retryable: false },
  PAYMENT_DECLINED: { retryable: false },
  PAYMENT_GATEWAY_UNAVAILABLE: { retryable: true },
  ORDER_CONFLICT: { retryable: false },
  ORDER_NOT_FOUND: { retryable: false },
  ORDER_STATE_CONFLICT: { retryable: false },
  NOTIFICATION_FAILED: { retryable: true },
  EVENT_PUBLISH_FAILED: { retryable: true },
  INVALID_EVENT: { retryable: false },
  SCHEMA_REGISTRY_UNAVAILABLE: { retryable: true },
  DATA_REJECTED: { retryable: false },
  EVENT_OUTSIDE_DEDUPE_WINDOW: { retryable: false },
} as const;

/** A stable error code. */
export type ErrorCode = keyof typeof errorCodes;

/** Codes of failures no retry can fix: the retry policies list them as non-retryable types. */
export const nonRetryableErrorCodes = (Object.keys(errorCodes) as ErrorCode[]).filter((code) => !errorCodes[code].retryable);
