import { v5 as uuidv5 } from 'uuid';

/** Namespace of the name-based event ids of order-saga. */
const eventIdNamespace = '6f1d3c2e-8a4b-5e7f-9c0d-1a2b3c4d5e6f';

/**
 * A name-based (UUID v5) event id: the same parts always give the same id. The orchestrated flow
 * derives it from the workflow id and the step, so an activity that is retried after publishing
 * publishes the same id again, and consumers drop the duplicate.
 */
export function deterministicEventId(...parts: string[]): string {
  return uuidv5(parts.join('/'), eventIdNamespace);
}
