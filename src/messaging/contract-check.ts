import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import type { EventType } from '../domain/events.ts';
import { catalogVersions, eventSchemaDocument, subjectOf, type SchemaDocument } from './event-schemas.ts';

/** Where the recorded contracts live: `contracts/<subject>.json`, committed with the code. */
export const recordedContractsDir = fileURLToPath(new URL('../../contracts/', import.meta.url));

/**
 * The schemas an event type's version has had, oldest first, as recorded in the repository: what
 * producers may have written, hence what the current schema must still read.
 */
export interface RecordedContract {
  subject: string;
  type: EventType;
  version: number;
  schemas: SchemaDocument[];
}

/** Every recorded contract in `dir`. */
export function readRecordedContracts(dir = recordedContractsDir): RecordedContract[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as RecordedContract);
}

/**
 * Records the catalog's schemas in `dir`: a schema that differs from the last one recorded for its
 * type and version is appended (the recorded ones are never rewritten). Returns the subjects that
 * changed. `npm test` then checks the new schema against every recorded one.
 */
export function recordContracts(dir = recordedContractsDir): string[] {
  mkdirSync(dir, { recursive: true });
  const changed: string[] = [];
  for (const { type, version } of catalogVersions()) {
    const subject = subjectOf(type, version);
    const file = join(dir, `${subject}.json`);
    const recorded: RecordedContract = existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as RecordedContract)
      : { subject, type, version, schemas: [] };
    const schema = eventSchemaDocument(type, version);
    if (isDeepStrictEqual(recorded.schemas.at(-1), schema)) continue;
    recorded.schemas.push(schema);
    writeFileSync(file, `${JSON.stringify(recorded, null, 2)}\n`);
    changed.push(subject);
  }
  return changed;
}

/**
 * What differs between the catalog and the recorded contracts, without a registry: a schema not
 * recorded yet (run `npm run contracts -- record`), and a recorded type or version the catalog no
 * longer reads (its events may still be in the topics, so it must stay readable).
 */
export function unrecordedChanges(recorded: readonly RecordedContract[]): string[] {
  const bySubject = new Map(recorded.map((c) => [c.subject, c]));
  const problems: string[] = [];
  const inCatalog = new Set<string>();
  for (const { type, version } of catalogVersions()) {
    const subject = subjectOf(type, version);
    inCatalog.add(subject);
    const last = bySubject.get(subject)?.schemas.at(-1);
    if (!last) problems.push(`${type} v${version} has no recorded contract: run \`npm run contracts -- record\` and commit contracts/${subject}.json`);
    else if (!isDeepStrictEqual(last, eventSchemaDocument(type, version)))
      problems.push(`${type} v${version} differs from its last recorded schema: run \`npm run contracts -- record\` and commit contracts/${subject}.json`);
  }
  for (const contract of recorded) {
    if (!inCatalog.has(contract.subject))
      problems.push(`${contract.type} v${contract.version} is recorded but the catalog no longer reads it: events of it may still be in the topics`);
  }
  return problems;
}

const registryJson = 'application/vnd.schemaregistry.v1+json';

/** One call to the registry's Confluent-compatible API; the parsed answer, or an error naming the call. */
async function registryCall<T>(url: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': registryJson, accept: registryJson },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 500)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/**
 * The fields a registry's compatibility messages point at, as dotted paths (`data.customerId`):
 * JSON Pointers such as `#/properties/data/properties/customerId` in the messages, with the
 * `properties` steps dropped.
 */
export function fieldsNamedIn(messages: readonly string[]): string[] {
  const fields = new Set<string>();
  for (const message of messages) {
    for (const [pointer] of message.matchAll(/(?:#?\/)?properties\/[^\s"',}\]]+/g)) {
      const steps = pointer.replace(/^#?\//, '').split('/');
      const names = steps.filter((_, i) => steps[i - 1] === 'properties');
      if (names.length > 0) fields.add(names.join('.'));
    }
  }
  return [...fields];
}

/** Options of {@link incompatibleChanges}. */
export interface CompatibilityCheckOptions {
  /** The registry's Confluent-compatible API. */
  url: string;
  recorded: readonly RecordedContract[];
  /** The schema the code has now of a type and version. @default eventSchemaDocument */
  current?: (type: EventType, version: number) => SchemaDocument;
}

/**
 * Checks the catalog's schema of every recorded type and version against each schema recorded for
 * it, with the registry's own compatibility checker (BACKWARD, against every recorded schema: a
 * consumer with the new schema must read whatever was ever written). The recorded schemas go into
 * a scratch subject first, deleted afterwards. Returns one line per incompatibility, naming the
 * event, its version and the fields the registry points at; empty when all is compatible.
 */
export async function incompatibleChanges(options: CompatibilityCheckOptions): Promise<string[]> {
  const current = options.current ?? eventSchemaDocument;
  const problems: string[] = [];
  for (const contract of options.recorded) {
    const schema = JSON.stringify(current(contract.type, contract.version));
    const scratch = `compatibility-check-${randomUUID()}.${contract.subject}`;
    const subjectPath = `/subjects/${encodeURIComponent(scratch)}`;
    try {
      // The recorded history as it stands, whatever its own compatibility.
      await registryCall(options.url, 'PUT', `/config/${encodeURIComponent(scratch)}`, { compatibility: 'NONE' });
      for (const recorded of contract.schemas)
        await registryCall(options.url, 'POST', `${subjectPath}/versions`, { schemaType: 'JSON', schema: JSON.stringify(recorded) });
      const versions = await registryCall<number[]>(options.url, 'GET', `${subjectPath}/versions`);
      for (const version of versions) {
        const answer = await registryCall<{ is_compatible: boolean; messages?: unknown[] }>(
          options.url,
          'POST',
          `/compatibility${subjectPath}/versions/${version}?verbose=true`,
          { schemaType: 'JSON', schema },
        );
        if (answer.is_compatible) continue;
        const messages = (answer.messages ?? []).map((m) => (typeof m === 'string' ? m : JSON.stringify(m)));
        const fields = fieldsNamedIn(messages);
        problems.push(
          `${contract.type} v${contract.version}: not compatible with recorded schema ${version} of ${contract.subject}` +
            `${fields.length > 0 ? `; fields: ${fields.join(', ')}` : ''} (${messages.join('; ') || 'no detail given'})`,
        );
      }
    } finally {
      await registryCall(options.url, 'DELETE', subjectPath).catch(() => undefined);
      await registryCall(options.url, 'DELETE', `${subjectPath}?permanent=true`).catch(() => undefined);
    }
  }
  return problems;
}
