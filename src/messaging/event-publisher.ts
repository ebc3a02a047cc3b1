import type { MessageSender } from './renewing-producer.ts';
import { EventPublishFailedError } from '../domain/errors.ts';
import type { EventEnvelope } from '../domain/events.ts';
import { endSpans, startPublishSpan } from '../observability/message-tracing.ts';
import { schemaIdHeader } from './event-schemas.ts';
import type { EventContracts } from './schema-registry.ts';
import { topicOf } from './topics.ts';

/** Publishes domain events to Kafka. */
export interface EventPublisher {
  /** Resolves once every broker replica has the events (acks=all); rejects with EventPublishFailedError. */
  publish(events: readonly EventEnvelope[]): Promise<void>;
}

/** Kafka headers of an event (DESIGN.md): id, type, schema version, correlation id. */
export function eventHeaders(event: EventEnvelope): Record<string, string> {
  return {
    'event-id': event.eventId,
    'event-type': event.type,
    'schema-version': String(event.schemaVersion),
    'correlation-id': event.correlationId,
  };
}

/** Options of {@link createEventPublisher}. */
export interface EventPublisherOptions {
  /** The registered schemas: each message carries the id of its own in the `schema-id` header. */
  contracts: EventContracts;
  /** @default '' */
  topicPrefix?: string;
}

/**
 * An event publisher over an idempotent kafkajs producer (created with `idempotent: true` and
 * `maxInFlightRequests: 1`): topic = event type, key = order id, so one order's events stay in
 * order within a partition.
 */
export function createEventPublisher(producer: MessageSender, { contracts, topicPrefix = '' }: EventPublisherOptions): EventPublisher {
  return {
    async publish(events) {
      if (events.length === 0) return;
      const byTopic = new Map<string, EventEnvelope[]>();
      for (const event of events) byTopic.set(topicOf(event.type, topicPrefix), [...(byTopic.get(topicOf(event.type, topicPrefix)) ?? []), event]);
      // One PRODUCER span per message, child of the caller's span (the activity), its context in the headers.
      const spans: ReturnType<typeof startPublishSpan>['span'][] = [];
      const topicMessages = [...byTopic].map(([topic, batch]) => ({
        topic,
        messages: batch.map((event) => {
          const schemaId = String(contracts.schemaIdOf(event.type, event.schemaVersion));
          const { span, headers } = startPublishSpan(topic, event.orderId, { ...eventHeaders(event), [schemaIdHeader]: schemaId });
          spans.push(span);
          return { key: event.orderId, value: JSON.stringify(event), headers };
        }),
      }));
      try {
        await producer.sendBatch({ acks: -1, topicMessages });
        endSpans(spans);
      } catch (err) {
        endSpans(spans, err);
        throw new EventPublishFailedError(events.map((e) => e.type).join(', '), (err as Error).message, { cause: err });
      }
    },
  };
}
