import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';

/**
 * Spans of the Kafka hops, with W3C trace context (`traceparent`) in message headers: a consumer
 * continues the trace of the producer that wrote the message, and an outbox row remembers the
 * trace of the transaction that wrote it, so the relay's publish joins it too. Without a
 * registered tracer provider every call here is a cheap no-op.
 */
const tracer = () => trace.getTracer('order-saga-messaging');

/** Span attributes of one message (OpenTelemetry messaging conventions); the key is the order id. */
function messageAttributes(operation: 'publish' | 'process', topic: string, key: string, headers: Record<string, string>): Attributes {
  return {
    'messaging.system': 'kafka',
    'messaging.operation.type': operation,
    'messaging.destination.name': topic,
    'messaging.kafka.message.key': key,
    ...(headers['event-id'] ? { 'messaging.message.id': headers['event-id'] } : {}),
    ...(headers['event-type'] ? { 'order_saga.event.type': headers['event-type'] } : {}),
  };
}

/** The trace context of `ctx` (default: the active one) as message headers; empty when there is none. */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** The trace context carried by message headers (the root context when they carry none). */
export function contextFromHeaders(headers: Record<string, string>): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}

/**
 * Starts the PRODUCER span of one message, child of `parent`, and returns it with the message's
 * headers carrying the span's own trace context. End it with {@link endSpans} after the send.
 */
export function startPublishSpan(
  topic: string,
  key: string,
  headers: Record<string, string>,
  parent: Context = context.active(),
): { span: Span; headers: Record<string, string> } {
  const span = tracer().startSpan(`publish ${topic}`, { kind: SpanKind.PRODUCER, attributes: messageAttributes('publish', topic, key, headers) }, parent);
  return { span, headers: { ...headers, ...traceHeaders(trace.setSpan(parent, span)) } };
}

/** Ends spans, marking them failed with `err` when given. */
export function endSpans(spans: Span[], err?: unknown): void {
  for (const span of spans) {
    if (err !== undefined) {
      const error = err instanceof Error ? err : new Error(JSON.stringify(err));
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    }
    span.end();
  }
}

/**
 * Runs `work` inside the CONSUMER span of one message, child of the producer span its headers
 * carry; spans and outbox rows made inside `work` join the same trace.
 */
export function inProcessSpan<T>(topic: string, group: string, key: string, headers: Record<string, string>, work: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(
    `process ${topic}`,
    { kind: SpanKind.CONSUMER, attributes: { ...messageAttributes('process', topic, key, headers), 'messaging.consumer.group.name': group } },
    contextFromHeaders(headers),
    async (span) => {
      try {
        const result = await work(span);
        endSpans([span]);
        return result;
      } catch (err) {
        endSpans([span], err);
        throw err;
      }
    },
  );
}
