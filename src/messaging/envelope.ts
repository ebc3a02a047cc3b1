import { Compile, type Validator } from 'typebox/compile';
import { InvalidEventError } from '../domain/errors.ts';
import { EnvelopeSchema, currentSchemaVersion, eventDataSchemas, type EventData, type EventEnvelope, type EventType } from '../domain/events.ts';

const envelopeValidator = Compile(EnvelopeSchema);
const dataValidators = new Map<EventType, Validator>();

function dataValidator(type: EventType): Validator {
  let validator = dataValidators.get(type);
  if (!validator) {
    validator = Compile(eventDataSchemas[type]);
    dataValidators.set(type, validator);
  }
  return validator;
}

const isEventType = (type: string): type is EventType => Object.hasOwn(eventDataSchemas, type);

const describe = (errors: { instancePath: string; message: string }[]) => errors.map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');

/**
 * Checks that `value` is an event of the catalog in the current schema version, with a `data`
 * that matches its type's schema (and of type `expectedType`, when given).
 * @throws InvalidEventError saying what is wrong (the consumer sends such a message to its DLQ).
 */
export function validateEnvelope<T extends EventType = EventType>(value: unknown, expectedType?: T): EventEnvelope<T> {
  if (!envelopeValidator.Check(value)) throw new InvalidEventError(describe(envelopeValidator.Errors(value)));
  if (!isEventType(value.type)) throw new InvalidEventError(`unknown event type ${value.type}`);
  if (value.schemaVersion !== currentSchemaVersion) {
    throw new InvalidEventError(`unknown schema version ${value.schemaVersion} of ${value.type} (this code reads version ${currentSchemaVersion})`);
  }
  const data = dataValidator(value.type);
  if (!data.Check(value.data)) throw new InvalidEventError(`${value.type} data: ${describe(data.Errors(value.data))}`);
  if (expectedType !== undefined && value.type !== expectedType)
    throw new InvalidEventError(`an event of type ${value.type} where ${expectedType} was expected`);
  // The one cast between an event and its type: the checks above proved that `value` is the
  // envelope of its type, with that type's data, which the compiler cannot follow through the
  // schema validators.
  return value as EventEnvelope<T>;
}

/** What a producer says about a new event; the envelope fills in the version and checks it. */
export interface NewEvent<T extends EventType> {
  eventId: string;
  type: T;
  orderId: string;
  correlationId: string;
  causationId: string | null;
  producer: string;
  flow: EventEnvelope['flow'];
  data: EventData<T>;
  /** @default now */
  occurredAt?: string;
}

/**
 * Wraps a new event in the envelope and validates it, so nothing invalid is ever published.
 * @throws InvalidEventError when the data does not match the type's schema.
 */
export function createEnvelope<T extends EventType>(event: NewEvent<T>): EventEnvelope<T> {
  const envelope = { ...event, schemaVersion: currentSchemaVersion, occurredAt: event.occurredAt ?? new Date().toISOString() };
  return validateEnvelope(envelope, event.type);
}
