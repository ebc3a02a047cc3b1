import { Counter, Histogram, type Registry } from 'prom-client';

/** Throughput, outcomes and handler durations of the consumer groups running in a process. */
export function createConsumerMetrics(registry: Registry) {
  return {
    events: new Counter({
      name: 'consumer_events_total',
      help: 'Events a consumer group received, by outcome: applied, duplicate (already applied), skipped (not for this group or flow), retried (one failed attempt), dead_lettered',
      labelNames: ['group', 'type', 'result'],
      registers: [registry],
    }),
    handlerDuration: new Histogram({
      name: 'consumer_handler_duration_seconds',
      help: 'Duration of one attempt at applying an event (handler, dedupe row and outbox rows in one transaction)',
      labelNames: ['group', 'type'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

export type ConsumerMetrics = ReturnType<typeof createConsumerMetrics>;
