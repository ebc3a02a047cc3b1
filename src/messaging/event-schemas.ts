import { Type } from 'typebox';
import { EnvelopeSchema, currentSchemaVersions, eventDataSchemaOf, eventTypes, type EventType } from '../domain/events.ts';

/** The Kafka header carrying the registry id of the schema a message was written with. */
export const schemaIdHeader = 'schema-id';

/** A JSON Schema document as the registry stores it. */
export type SchemaDocument = Record<string, unknown>;

/**
 * The registry subject of `type` in schema `version`: one subject per type and version. A
 * compatible change is a new registered version of the same subject (checked BACKWARD by the
 * registry); an incompatible one is a new schema version of the event, hence a new subject
 * (docs/event-contracts.md).
 */
export const subjectOf = (type: EventType, version: number, prefix = ''): string => `${prefix}order-saga.${type}.v${version}`;

/** Every (type, version) this code reads, in catalog order, the earlier versions first. */
export function catalogVersions(): { type: EventType; version: number }[] {
  return eventTypes.flatMap((type) => Array.from({ length: currentSchemaVersions[type] }, (_, i) => ({ type, version: i + 1 })));
}

/**
 * The JSON Schema of a whole message of `type` in `version`: the envelope, closed, with its
 * `type` and `schemaVersion` fixed and `data` that version's schema. Generated from the catalog
 * (src/domain/events.ts); what is registered, and what a consumer checks a message against.
 */
export function eventSchemaDocument(type: EventType, version: number): SchemaDocument {
  const data = eventDataSchemaOf(type, version);
  if (!data) throw new Error(`${type} has no schema version ${version}`);
  const schema = Type.Object(
    { ...EnvelopeSchema.properties, type: Type.Literal(type), schemaVersion: Type.Literal(version), data },
    { additionalProperties: false, title: `${type} v${version}` },
  );
  // Plain JSON, in the draft the registry's checker and the consumers' validator both read.
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...(JSON.parse(JSON.stringify(schema)) as SchemaDocument) };
}
