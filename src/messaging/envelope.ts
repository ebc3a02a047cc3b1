import { Compile, type Validator } from 'typebox/compile';
import { InvalidEventError } from '../domain/errors.ts';
import {
  EnvelopeSchema,
  currentSchemaVersions,
  eventDataSchemaOf,
  eventDataSchemas,
  type EventData,
  type EventEnvelope,
  type EventType,
} from '../domain/events.ts';
import { upcastData } from './upcasters.ts';

const envelopeValidator = Compile(EnvelopeSchema);
const dataValidators = new Map<string, Validator>();

/** The compiled data schema of `type` in `version`; undefined for a version this code does not know. */
function dataValidator(type: EventType, version: number): Validator | undefined {
  const key = `${type}@${version}`;
  let validator = dataValidators.get(key);
  if (!validator) {
    const schema = eventDataSchemaOf(type, version);
    if (!schema) return undefined;
    validator = Compile(schema);
    dataValidators.set(key, validator);
  }
  return validator;
}

const isEventType = (type: string): type is EventType => Object.hasOwn(eventDataSchemas, type);

const describe = (errors: { instancePath: string; message: string }[]) => errors.map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');

/**
 * Checks that `value` is an event of the catalog in a schema version this code knows, with a
 * `data` that matches that version's schema (and of type `expectedType`, when given), and returns
 * it in the current version: an earlier version is upcast (src/messaging/upcasters.ts) and the
 * result checked against the current schema.
 * @throws InvalidEventError saying what is wrong (the consumer sends such a message to its DLQ).
 */
export function validateEnvelope<T extends EventType = EventType>(value: unknown, expectedType?: T): EventEnvelope<T> {
  if (!envelopeValidator.Check(value)) throw new InvalidEventError(describe(envelopeValidator.Errors(value)));
  if (!isEventType(value.type)) throw new InvalidEventError(`unknown event type ${value.type}`);
  const current = currentSchemaVersions[value.type];
  const written = dataValidator(value.type, value.schemaVersion);
  if (!written) {
    throw new InvalidEventError(`unknown schema version ${value.schemaVersion} of ${value.type} (this code reads versions 1 to ${current})`);
  }
  if (!written.Check(value.data)) throw new InvalidEventError(`${value.type} v${value.schemaVersion} data: ${describe(written.Errors(value.data))}`);
  if (expectedType !== undefined && value.type !== expectedType)
    throw new InvalidEventError(`an event of type ${value.type} where ${expectedType} was expected`);
  let event: typeof value = value;
  if (value.schemaVersion !== current) {
    event = { ...value, schemaVersion: current, data: upcastData(value.type, value.schemaVersion, value.data) as Record<string, unknown> };
    const upcast = dataValidator(value.type, current)!;
    if (!upcast.Check(event.data)) throw new InvalidEventError(`${value.type} upcast to v${current}: ${describe(upcast.Errors(event.data))}`);
  }
  // The one cast between an event and its type: the checks above proved that `event` is the
  // envelope of its type, with that type's data in the current version, which the compiler cannot
  // follow through the schema validators.
  return event as EventEnvelope<T>;
}

/** What a producer says about a new event; the envelope fills in the (current) version and checks it. */
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
  const envelope = { ...event, schemaVersion: currentSchemaVersions[event.type], occurredAt: event.occurredAt ?? new Date().toISOString() };
  return validateEnvelope(envelope, event.type);
}
