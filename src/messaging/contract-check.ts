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

/** One call to the registry's API: its status and parsed answer; throws naming the call on an unexpected status. */
async function registryCall<T>(
  url: string,
  method: string,
  path: string,
  options: { body?: string; headers?: Record<string, string>; expect?: number[] } = {},
) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', accept: 'application/json', ...options.headers },
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  const text = await response.text();
  if (!response.ok && !(options.expect ?? []).includes(response.status))
    throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 500)}`);
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

type JsonObjectSchema = { properties?: Record<string, unknown>; required?: string[] };

/** The object schema at the `properties` steps of `path` (e.g. `['data']`) in `schema`. */
function objectAt(schema: unknown, path: readonly string[]): JsonObjectSchema | undefined {
  let node = schema as JsonObjectSchema | undefined;
  for (const name of path) node = node?.properties?.[name] as JsonObjectSchema | undefined;
  return node;
}

/**
 * The fields a cause of the registry's compatibility checker is about, as dotted paths
 * (`data.customerId`). A cause names a JSON Pointer into the schema: down to the field itself
 * (`/properties/data/properties/customerId`, a type changed), or to an object and what changed
 * in it (`/properties/data/propertySchemasRemoved`); for the latter, the fields of that object
 * added, removed, or made required or optional between the recorded schemas and the current one.
 */
export function fieldsOfCause(context: string, recorded: readonly SchemaDocument[], current: SchemaDocument): string[] {
  const steps = context.replace(/^#?\//, '').split('/').filter(Boolean);
  const path: string[] = [];
  for (let i = 0; i + 1 < steps.length && steps[i] === 'properties'; i += 2) path.push(steps[i + 1]!);
  if (steps.length === path.length * 2) return path.length > 0 ? [path.join('.')] : [];
  const now = objectAt(current, path);
  const before = recorded.map((schema) => objectAt(schema, path));
  const names = (o: JsonObjectSchema | undefined) => Object.keys(o?.properties ?? {});
  const required = (o: JsonObjectSchema | undefined) => new Set(o?.required ?? []);
  const changed = new Set<string>();
  for (const old of before) {
    for (const name of names(old)) if (!names(now).includes(name)) changed.add(name);
    for (const name of names(now)) if (!names(old).includes(name)) changed.add(name);
    for (const name of required(now)) if (!required(old).has(name)) changed.add(name);
    for (const name of required(old)) if (!required(now).has(name) && names(now).includes(name)) changed.add(name);
  }
  return [...changed].map((name) => [...path, name].join('.'));
}

/** Options of {@link incompatibleChanges}. */
export interface CompatibilityCheckOptions {
  /** The registry's Confluent-compatible API; the check uses Apicurio's own API beside it (`/apis/registry/v2`), which says why. */
  url: string;
  recorded: readonly RecordedContract[];
  /** The schema the code has now of a type and version. @default eventSchemaDocument */
  current?: (type: EventType, version: number) => SchemaDocument;
}

/**
 * Checks the catalog's schema of every recorded type and version against every schema recorded for
 * it, with the registry's own compatibility checker: BACKWARD_TRANSITIVE, since a consumer with the
 * new schema must read whatever was ever written. The recorded schemas go into a scratch artifact
 * first, deleted afterwards. Returns one line per incompatible contract, naming the event, its
 * version, the fields and the registry's causes; empty when all is compatible.
 * @throws Error when the registry is not Apicurio (its Confluent-compatible API says whether, not why)
 */
export async function incompatibleChanges(options: CompatibilityCheckOptions): Promise<string[]> {
  const native = options.url.replace(/\/apis\/ccompat\/v\d+\/?$/, '/apis/registry/v2');
  if (native === options.url) throw new Error(`the compatibility check needs an Apicurio registry's API; ${options.url} is not its /apis/ccompat/v7`);
  const current = options.current ?? eventSchemaDocument;
  const group = 'order-saga.compatibility-check';
  const problems: string[] = [];
  for (const contract of options.recorded) {
    const schema = current(contract.type, contract.version);
    const artifact = `${randomUUID()}.${contract.subject}`;
    const artifactPath = `/groups/${group}/artifacts/${encodeURIComponent(artifact)}`;
    const [first, ...later] = contract.schemas;
    if (!first) continue;
    try {
      await registryCall(native, 'POST', `/groups/${group}/artifacts`, {
        body: JSON.stringify(first),
        headers: { 'x-registry-artifactid': artifact, 'x-registry-artifacttype': 'JSON' },
      });
      // The recorded history as it stands, then every version of it checked against the current schema.
      await registryCall(native, 'POST', `${artifactPath}/rules`, { body: JSON.stringify({ type: 'COMPATIBILITY', config: 'NONE' }) });
      for (const recorded of later) await registryCall(native, 'POST', `${artifactPath}/versions`, { body: JSON.stringify(recorded) });
      await registryCall(native, 'PUT', `${artifactPath}/rules/COMPATIBILITY`, {
        body: JSON.stringify({ type: 'COMPATIBILITY', config: 'BACKWARD_TRANSITIVE' }),
      });
      const answer = await registryCall<{ causes?: { description: string; context: string }[] }>(native, 'PUT', `${artifactPath}/test`, {
        body: JSON.stringify(schema),
        expect: [409],
      });
      if (answer.status !== 409) continue;
      const causes = answer.body.causes ?? [];
      const fields = [...new Set(causes.flatMap((cause) => fieldsOfCause(cause.context, contract.schemas, schema)))];
      problems.push(
        `${contract.type} v${contract.version}: not compatible with the recorded schemas of ${contract.subject}` +
          `${fields.length > 0 ? `; fields: ${fields.join(', ')}` : ''} (${causes.map((c) => `${c.description} at ${c.context}`).join('; ') || 'no cause given'})`,
      );
    } finally {
      await registryCall(native, 'DELETE', artifactPath).catch(() => undefined);
    }
  }
  return problems;
}
