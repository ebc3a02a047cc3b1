import type { Static } from 'typebox';
import { InvalidEventError } from '../domain/errors.ts';
import { type OrderPlacedV1Schema, currentSchemaVersions, type EventData, type EventType } from '../domain/events.ts';

/**
 * Turns the data of version `n` of a type into the data of version `n + 1`. Pure: no lookup, no
 * clock, so a replay of last year's topic upcasts exactly as today's consumer does.
 */
type Upcaster = (data: never) => unknown;

/**
 * The one place where earlier versions become the current shape: for each type with more than one
 * version, an upcaster from each earlier version to the next. A consumer validates an event against
 * the schema of the version it was written in, then upcasts it here step by step, then validates
 * the result against the current schema, so a handler only ever sees the current shape.
 */
export const upcasters: { readonly [T in EventType]?: Readonly<Record<number, Upcaster>> } = {
  'order.placed': {
    // Version 1 carried the payment in one of two optional fields; version 2 in one field whose
    // shape says which it is. An event with neither (the orchestrated flow's) has no payment.
    1: (data: Static<typeof OrderPlacedV1Schema>): EventData<'order.placed'> => {
      const { paymentRef, paymentToken, ...rest } = data;
      if (paymentRef !== undefined) return { ...rest, payment: { ref: paymentRef } };
      if (paymentToken !== undefined) return { ...rest, payment: { legacyToken: paymentToken } };
      return rest;
    },
  },
};

/**
 * The data of an event of `type` written in `version`, upcast to the current version.
 * @throws InvalidEventError when a step of the way has no upcaster (a version this code does not know).
 */
export function upcastData(type: EventType, version: number, data: unknown): unknown {
  let current = data;
  for (let v = version; v < currentSchemaVersions[type]; v += 1) {
    const step = upcasters[type]?.[v];
    if (!step) throw new InvalidEventError(`no upcaster of ${type} from schema version ${v}`);
    current = step(current as never);
  }
  return current;
}
