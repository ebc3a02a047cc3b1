import { setTimeout as sleep } from 'node:timers/promises';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type pg from 'pg';
import { InvalidEventError, SchemaRegistryUnavailableError } from '../domain/errors.ts';
import { withAdvisoryLock } from '../platform/database.ts';
import type { EventType } from '../domain/events.ts';
import { catalogVersions, eventSchemaDocument, subjectOf } from './event-schemas.ts';

/**
 * The catalog's contracts as registered in the schema registry: the id a producer sends with each
 * message, and the check a consumer makes against the schema a message was written with.
 */
export interface EventContracts {
  /** The registry id of the schema of `type` in `version`. @throws Error for a version this code did not register */
  schemaIdOf(type: EventType, version: number): number;
  /**
   * Checks a message's value against the schema registered under `id` (the writer's schema),
   * fetched from the registry once and cached for the life of the process.
   * @throws InvalidEventError when the value does not match it, or no schema has that id
   * @throws SchemaRegistryUnavailableError when the schema is not cached and the registry cannot answer
   */
  checkWriterSchema(id: number, value: unknown): Promise<void>;
}

/** Options of {@link registerEventContracts}. */
export interface EventContractsOptions {
  /** The registry's Confluent-compatible API, e.g. Apicurio's `http://127.0.0.1:8081/apis/ccompat/v7`. */
  url: string;
  /** Basic authentication, when the registry requires it. */
  username?: string;
  password?: string;
  /** Prefix of the subjects (keeps test runs apart on one registry). @default '' */
  subjectPrefix?: string;
  /**
   * Runs the registration of a schema the registry does not hold yet one process at a time
   * (the workers use a PostgreSQL advisory lock): a fresh registry with many writers at once
   * fails them (the stack's, on its H2 storage, with lock timeouts). @default as they come
   */
  serialize?: <T>(work: () => Promise<T>) => Promise<T>;
}

/**
 * How long one call to the registry may take: at start (a fresh registry's first registrations
 * wait for each other's locks, up to 10 s in the stack's), then in operation, where a consumer's
 * fetch of a schema it has not cached counts as unavailable sooner (it is retried).
 */
const registrationTimeoutMs = 20_000;
const requestTimeoutMs = 3000;

/** The client's middleware type (its HTTP library's). */
type RegistryMiddleware = NonNullable<ConstructorParameters<typeof SchemaRegistry>[0]['middlewares']>[number];

/** The PostgreSQL advisory lock the workers register schemas under, one process at a time. */
export const schemaRegistrationLockKey = 7_318_002;

/** How long a process keeps trying to register before it gives up starting. */
const registrationPatienceMs = 120_000;

/** Answers that another try cannot change: not allowed, incompatible, invalid. */
const definitiveStatuses = new Set([401, 403, 409, 422]);

/** The HTTP status of a registry client error; undefined when no answer came (connection refused, timeout). */
const statusOf = (err: unknown): number | undefined =>
  typeof err === 'object' && err !== null && 'status' in err && typeof err.status === 'number' ? err.status : undefined;

/** An answer of the registry that is not the one expected. */
class RegistryAnswerError extends Error {
  constructor(
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Registers the schema of every event type in every version this code reads (the current ones,
 * which it writes, and the earlier ones, which it upcasts), each under its own subject with
 * BACKWARD compatibility, and returns their ids, with every schema in the client's cache.
 *
 * Each step is idempotent, so every process does it at start, as it creates its topics: it looks
 * the schema up under its subject (a read); registers it only when the subject does not hold it
 * (under `options.serialize`); sets the subject's compatibility when it is not BACKWARD (a subject
 * whose first registration was cut short has none); fetches the schema by its id into the cache.
 * @throws Error naming the event and subject when the registry refuses a schema as incompatible
 *   with what the subject holds, or cannot be reached for 2 minutes (the process does not start
 *   without its ids)
 */
export async function registerEventContracts(options: EventContractsOptions): Promise<EventContracts> {
  let timeoutMs = registrationTimeoutMs;
  // A registry that hangs (paused, overloaded) answers nothing: without a timeout a request would wait forever.
  const withTimeout: RegistryMiddleware = () => ({ request: (request) => request.enhance({ timeout: timeoutMs }) });
  const authorization = options.username ? `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}` : undefined;
  const registry = new SchemaRegistry({
    host: options.url,
    clientId: 'order-saga',
    middlewares: [withTimeout],
    ...(options.username ? { auth: { username: options.username, password: options.password ?? '' } } : {}),
  });
  /** One call to the Confluent-compatible API; the parsed answer when its status is `ok`, else a RegistryAnswerError. */
  const call = async <T>(method: string, path: string, ok: number[], body?: unknown): Promise<{ status: number; body: T }> => {
    let response: Response;
    try {
      response = await fetch(`${options.url}${path}`, {
        method,
        headers: {
          'content-type': 'application/vnd.schemaregistry.v1+json',
          accept: 'application/vnd.schemaregistry.v1+json, application/json',
          ...(authorization ? { authorization } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(registrationTimeoutMs),
      });
    } catch (err) {
      throw new RegistryAnswerError(undefined, `${method} ${path}: ${(err as Error).message}`);
    }
    const text = await response.text();
    if (!ok.includes(response.status)) throw new RegistryAnswerError(response.status, `${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`);
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  const serialize = options.serialize ?? (<T>(work: () => Promise<T>) => work());

  const key = (type: EventType, version: number) => `${type}@${version}`;
  const ids = new Map<string, number>();
  const giveUpAt = Date.now() + registrationPatienceMs;
  // One at a time, in catalog order: a fresh registry numbers them the same way every time.
  for (const { type, version } of catalogVersions()) {
    const subject = encodeURIComponent(subjectOf(type, version, options.subjectPrefix));
    const schema = { schemaType: 'JSON', schema: JSON.stringify(eventSchemaDocument(type, version)) };
    const lookUp = async () => {
      const found = await call<{ id: number }>('POST', `/subjects/${subject}`, [200, 404], schema);
      return found.status === 200 ? found.body.id : undefined;
    };
    for (let attempt = 1; ; attempt += 1) {
      try {
        const id =
          (await lookUp()) ??
          (await serialize(async () => (await lookUp()) ?? (await call<{ id: number }>('POST', `/subjects/${subject}/versions`, [200], schema)).body.id));
        const isBackward = async () =>
          (await call<{ compatibilityLevel?: string }>('GET', `/config/${subject}`, [200, 404])).body?.compatibilityLevel === 'BACKWARD';
        // Apicurio answers 409 to a second process setting the rule at the same time: one at a time, looking again first.
        if (!(await isBackward()))
          await serialize(async () => (await isBackward()) || (await call('PUT', `/config/${subject}`, [200], { compatibility: 'BACKWARD' })));
        await registry.getSchema(id);
        ids.set(key(type, version), id);
        break;
      } catch (err) {
        const status = err instanceof RegistryAnswerError ? err.status : statusOf(err);
        // A registry still starting, busy with other processes' registrations, or away: try again.
        if (!definitiveStatuses.has(status ?? 0) && Date.now() < giveUpAt) {
          await sleep(Math.min(5000, 250 * 2 ** attempt));
          continue;
        }
        const why = status === 409 ? 'is not compatible with the versions the subject holds' : 'could not be registered';
        throw new Error(`the schema of ${type} v${version} ${why} (subject ${decodeURIComponent(subject)} at ${options.url}): ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
  }
  timeoutMs = requestTimeoutMs;

  return {
    schemaIdOf(type, version) {
      const id = ids.get(key(type, version));
      if (id === undefined) throw new Error(`no registered schema of ${type} v${version}`);
      return id;
    },

    async checkWriterSchema(id, value) {
      let schema: Awaited<ReturnType<SchemaRegistry['getSchema']>>;
      try {
        schema = await registry.getSchema(id);
      } catch (err) {
        const status = statusOf(err);
        if (status === 404) throw new InvalidEventError(`schema id ${id} is not registered`);
        // Anything else is the registry's trouble, not the message's: down, hung (the client
        // reports a refused or timed-out connection as a 400 of its own), or refusing this
        // client (401, 403). The message waits rather than being dead-lettered.
        throw new SchemaRegistryUnavailableError(`schema id ${id}: ${(err as Error).message}`, { cause: err });
      }
      const paths: string[] = [];
      if (!schema.isValid(value as object, { errorHook: (path) => paths.push(`/${path.join('/')}`) })) {
        throw new InvalidEventError(`does not match the schema it was written with (id ${id}) at ${[...new Set(paths)].join(', ') || '/'}`);
      }
    },
  };
}

/**
 * {@link registerEventContracts} as a worker does it: with its SCHEMA_REGISTRY_* settings, one
 * process at a time under {@link schemaRegistrationLockKey} on its database.
 */
export const registerWorkerContracts = (registry: Omit<EventContractsOptions, 'serialize'>, pool: pg.Pool): Promise<EventContracts> =>
  registerEventContracts({ ...registry, serialize: (work) => withAdvisoryLock(pool, schemaRegistrationLockKey, work) });
