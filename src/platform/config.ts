import envSchema from 'env-schema';
import { Type, type Static, type TObject, type TProperties } from 'typebox';

/** Thrown when environment variables are missing, of the wrong type or out of range; lists every problem. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: string) {
    super(`invalid configuration: ${problems}`);
  }
}

const flag = (description: string) => Type.Boolean({ default: false, description });

/** Where the Temporal frontend is, and how to authenticate to a remote cluster (Temporal Cloud or self-hosted with mTLS). */
export const TemporalEnv = {
  TEMPORAL_ADDRESS: Type.String({ default: '127.0.0.1:7233' }),
  TEMPORAL_NAMESPACE: Type.String({ default: 'default' }),
  TEMPORAL_TASK_QUEUE: Type.String({ default: 'orders', minLength: 1 }),
  TEMPORAL_TLS: flag('connect with TLS (implied by the certificate paths or an API key)'),
  TEMPORAL_TLS_CERT_PATH: Type.Optional(Type.String({ description: 'client certificate (mTLS)' })),
  TEMPORAL_TLS_KEY_PATH: Type.Optional(Type.String({ description: 'client private key (mTLS)' })),
  TEMPORAL_TLS_CA_PATH: Type.Optional(Type.String({ description: 'server CA, when not a public one' })),
  TEMPORAL_TLS_SERVER_NAME: Type.Optional(Type.String()),
  TEMPORAL_API_KEY: Type.Optional(Type.String({ description: 'API key (Temporal Cloud)' })),
  TEMPORAL_PAYLOAD_KEYS: Type.Optional(
    Type.String({ description: 'payload encryption keys, `id:base64-of-32-bytes` comma-separated, newest last (src/platform/payload-codec.ts)' }),
  ),
  TEMPORAL_PAYLOAD_KEYS_FILE: Type.Optional(Type.String({ description: 'JSON file of payload encryption keys, `[{ "id", "key" }]`, newest last' })),
};

const hour = 3_600_000;
const day = 24 * hour;
const retention = (defaultMs: number, description: string) => Type.Integer({ minimum: 1000, default: defaultMs, description });

/** The retention of the topics a process creates (part of {@link RetentionEnv}, and of {@link KafkaEnv}: every process that creates topics has them). */
const KafkaTopicRetentionEnv = {
  KAFKA_TOPIC_RETENTION_MS: retention(7 * day, 'retention.ms of the event and dead-letter topics this process creates (and sets on existing ones)'),
  KAFKA_TOPIC_SEGMENT_MS: retention(day, 'segment.ms of those topics: a segment is deleted whole, so a message can outlive the retention by this much'),
};

/** Kafka brokers and client security for a real cluster. */
export const KafkaEnv = {
  KAFKA_BROKERS: Type.String({ default: '127.0.0.1:9092', description: 'comma-separated host:port list' }),
  KAFKA_CLIENT_ID: Type.String({ default: 'order-saga' }),
  KAFKA_SSL: flag('connect with TLS (implied by KAFKA_SSL_CA_PATH)'),
  KAFKA_SSL_CA_PATH: Type.Optional(Type.String({ description: "CA the brokers' certificates are verified with, when not a public one (PEM)" })),
  KAFKA_SASL_MECHANISM: Type.Optional(Type.Union([Type.Literal('plain'), Type.Literal('scram-sha-256'), Type.Literal('scram-sha-512')])),
  KAFKA_SASL_USERNAME: Type.Optional(Type.String()),
  KAFKA_SASL_PASSWORD: Type.Optional(Type.String()),
  KAFKA_TOPIC_PARTITIONS: Type.Integer({ minimum: 1, default: 3, description: 'partitions of topics this process creates' }),
  KAFKA_REPLICATION_FACTOR: Type.Optional(
    Type.Integer({ minimum: 1, description: "replicas of topics this process creates (default: the cluster's default.replication.factor)" }),
  ),
  KAFKA_TOPIC_PREFIX: Type.String({ default: '', description: 'prefix of topic and consumer group names, e.g. "staging."' }),
  ...KafkaTopicRetentionEnv,
};

/** The schema registry (Confluent-compatible API) the event contracts are registered in (docs/event-contracts.md). */
export const SchemaRegistryEnv = {
  SCHEMA_REGISTRY_URL: Type.String({
    default: 'http://127.0.0.1:8081/apis/ccompat/v7',
    description: "the registry's Confluent-compatible API: Apicurio's /apis/ccompat/v7, or a Confluent Schema Registry's root URL",
  }),
  SCHEMA_REGISTRY_USERNAME: Type.Optional(Type.String({ description: 'basic authentication, when the registry requires it' })),
  SCHEMA_REGISTRY_PASSWORD: Type.Optional(Type.String()),
};

/** The event contracts' options of a process's SCHEMA_REGISTRY_* settings and topic prefix. */
export const schemaRegistryOf = (config: { SCHEMA_REGISTRY_URL: string; SCHEMA_REGISTRY_USERNAME?: string; SCHEMA_REGISTRY_PASSWORD?: string }) => ({
  url: config.SCHEMA_REGISTRY_URL,
  ...(config.SCHEMA_REGISTRY_USERNAME ? { username: config.SCHEMA_REGISTRY_USERNAME, password: config.SCHEMA_REGISTRY_PASSWORD ?? '' } : {}),
});

/**
 * How long each store keeps what it holds (docs/retention.md has the table: what, how long, why,
 * what depends on it). Every value is in milliseconds; the soak shortens them to minutes.
 */
export const RetentionEnv = {
  ...KafkaTopicRetentionEnv,
  DEDUPE_RETENTION_MS: retention(
    8 * day,
    "how long a consumer group's dedupe rows (messaging.processed_events) are kept, by the event's time; at least the topic retention plus a segment",
  ),
  DEDUPE_PARTITION_MS: retention(day, 'width of one partition of messaging.processed_events; old partitions are dropped whole'),
  OUTBOX_RETENTION_MS: retention(hour, 'how long a sent outbox row is kept (for inspection) before the relay deletes it'),
  RETENTION_SWEEP_INTERVAL_MS: retention(60_000, 'how often a process removes what is past its retention'),
};

/**
 * The orders the retentions must keep, or a replay could apply an event twice or rebuild half an
 * order (docs/retention.md): the dedupe window covers every message a topic can still hold (its
 * retention plus a segment, as Kafka deletes whole segments), and the records that make a
 * redelivered event harmless (sent emails, the read model) outlive the dedupe window.
 * @throws ConfigError naming each setting out of order.
 */
export function checkRetentionOrder(config: {
  KAFKA_TOPIC_RETENTION_MS?: number;
  KAFKA_TOPIC_SEGMENT_MS?: number;
  DEDUPE_RETENTION_MS?: number;
  DEDUPE_PARTITION_MS?: number;
  NOTIFICATIONS_RETENTION_MS?: number;
  READ_MODEL_RETENTION_MS?: number;
}): void {
  const problems: string[] = [];
  const { KAFKA_TOPIC_RETENTION_MS: topic, KAFKA_TOPIC_SEGMENT_MS: segment, DEDUPE_RETENTION_MS: dedupe } = config;
  if (topic !== undefined && segment !== undefined && dedupe !== undefined && dedupe < topic + segment)
    problems.push(
      `DEDUPE_RETENTION_MS (${dedupe}) must be at least KAFKA_TOPIC_RETENTION_MS + KAFKA_TOPIC_SEGMENT_MS (${topic + segment}): a message still in a topic must find its dedupe row`,
    );
  if (config.DEDUPE_PARTITION_MS !== undefined && dedupe !== undefined && config.DEDUPE_PARTITION_MS > dedupe)
    problems.push(
      `DEDUPE_PARTITION_MS (${config.DEDUPE_PARTITION_MS}) must be at most DEDUPE_RETENTION_MS (${dedupe}): partitions are dropped whole, so a wider one keeps rows far past the window`,
    );
  for (const name of ['NOTIFICATIONS_RETENTION_MS', 'READ_MODEL_RETENTION_MS'] as const) {
    const value = config[name];
    if (value !== undefined && dedupe !== undefined && value < dedupe)
      problems.push(`${name} (${value}) must be at least DEDUPE_RETENTION_MS (${dedupe}): an event redelivered within the dedupe window must find what it did`);
  }
  if (problems.length > 0) throw new ConfigError(problems.join('; '));
}

/** Settings of the API's own tables. */
export const ApiRetentionEnv = {
  API_IDEMPOTENCY_KEY_TTL_MS: retention(day, 'how long POST /orders remembers an Idempotency-Key: a client may retry with it for this long'),
  API_DEAD_LETTER_REPLAYS_RETENTION_MS: retention(90 * day, 'how long the record of a dead-letter replay (who, when) is kept'),
};

/** Settings of the read model and of the notifications context's records. */
export const RecordsRetentionEnv = {
  READ_MODEL_RETENTION_MS: retention(
    400 * day,
    "how long an ended order's view and timeline are kept after its last change; at least DEDUPE_RETENTION_MS (a replay must not rebuild half an order)",
  ),
  NOTIFICATIONS_RETENTION_MS: retention(
    30 * day,
    'how long a sent email is remembered (an event redelivered within it sends nothing); at least DEDUPE_RETENTION_MS',
  ),
};

/** PostgreSQL. */
export const DatabaseEnv = {
  DATABASE_URL: Type.String({ default: 'postgres://order_saga:order_saga@127.0.0.1:5433/order_saga' }),
  DATABASE_POOL_MAX: Type.Integer({ minimum: 1, default: 10 }),
  DATABASE_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 5000, description: 'longest wait for a pooled connection' }),
  DATABASE_STATEMENT_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 30_000, description: 'statement_timeout of every connection' }),
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    default: 15_000,
    description: 'idle_in_transaction_session_timeout of every connection',
  }),
  MIGRATE_ON_START: Type.Boolean({ default: true, description: 'apply pending migrations at start (under an advisory lock)' }),
};

/** The pool bounds of the DATABASE_* variables, for createPool. */
export const poolTimeoutsOf = (config: {
  DATABASE_CONNECT_TIMEOUT_MS: number;
  DATABASE_STATEMENT_TIMEOUT_MS: number;
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: number;
}) => ({
  connectionTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
  statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
  idleInTransactionTimeoutMs: config.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
});

/** The payment gateway and the SMTP server the activities talk to. */
export const IntegrationsEnv = {
  PAYMENT_GATEWAY_URL: Type.String({ default: 'http://127.0.0.1:3100' }),
  SMTP_HOST: Type.String({ default: '127.0.0.1' }),
  SMTP_PORT: Type.Integer({ minimum: 1, maximum: 65535, default: 2525 }),
};

/** The payments vault's key ring (src/contexts/payments/payment-vault.ts): one of the two is required where orders are placed or charged. */
export const PaymentVaultEnv = {
  PAYMENT_VAULT_KEYS: Type.Optional(Type.String({ description: 'payment vault keys, `id:base64-32-bytes,...`, newest last' })),
  PAYMENT_VAULT_KEYS_FILE: Type.Optional(Type.String({ description: 'JSON file of payment vault keys, `[{ "id", "key" }]`, newest last' })),
  PAYMENT_VAULT_RETENTION_MS: Type.Integer({
    minimum: 1000,
    default: 30 * 86_400_000,
    description: 'how long a sealed payment token is kept from when the API stored it (the API deletes it after); an order not charged by then cannot be',
  }),
};

/** Logging. */
export const LogEnv = {
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace'].map((level) => Type.Literal(level)),
    { default: 'info' },
  ),
};

/**
 * The HTTP API's browser policy and abuse limits (src/api/security.ts).
 *
 * The rate limit's default, 600 a minute per client address (10 a second on average), is far above
 * what a person makes and below what the system sustains
 * on 2 cores (11.3 orchestrated and 33.5 choreographed orders a second, docs/comparison.md), so one
 * address cannot take it whole. The local stack turns it off (infra/stack/stack.ts): there every
 * client is 127.0.0.1, and the benchmark places up to about 60 orders a second from it.
 */
export const ApiSecurityEnv = {
  API_CORS_ORIGINS: Type.String({
    default: '',
    pattern: '^\\s*(https?://[^\\s,/]+\\s*(,\\s*https?://[^\\s,/]+\\s*)*)?$',
    description: 'comma-separated origins browsers may call the API from (https://shop.example.com); empty: no cross-origin access',
  }),
  API_RATE_LIMIT_PER_MINUTE: Type.Integer({
    minimum: 0,
    default: 600,
    description: 'requests a minute per caller (principal, or client address without a valid token); 0: no limit',
  }),
};

const metricsSource = '[A-Za-z0-9._-]+=https?://[^\\s,]+';

/** What the API's operator routes read (the console's Operate tab). */
export const ApiOperationsEnv = {
  API_OPERATIONS_METRICS_URLS: Type.String({
    default: '',
    pattern: `^\\s*(${metricsSource}\\s*(,\\s*${metricsSource}\\s*)*)?$`,
    description:
      'comma-separated name=url of the /metrics endpoints GET /operations/backlog reads consumer lag, dead letters and the outbox from ' +
      '(every choreography and projector instance: choreography-1=http://10.0.0.5:9466/metrics,...); empty: none, the backlog is empty',
  }),
};

/** The sources of API_OPERATIONS_METRICS_URLS, as a list. */
export const metricsSourcesOf = (config: { API_OPERATIONS_METRICS_URLS: string }): { name: string; url: string }[] =>
  config.API_OPERATIONS_METRICS_URLS.split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => ({ name: entry.slice(0, entry.indexOf('=')), url: entry.slice(entry.indexOf('=') + 1) }));

/** How the API verifies bearer tokens: any OpenID Connect issuer (the stack's local one, or production's). */
export const AuthEnv = {
  AUTH_ISSUER: Type.String({ minLength: 1, description: 'the OpenID Connect issuer URL whose tokens the API accepts (its iss); required' }),
  AUTH_AUDIENCE: Type.String({ minLength: 1, default: 'urn:order-saga:api', description: 'the audience (aud) tokens must be for' }),
  AUTH_JWKS_URL: Type.String({ default: '', description: "the issuer's key set; empty: found through the issuer's discovery document" }),
  AUTH_ROLES_CLAIM: Type.String({ minLength: 1, default: 'roles', description: 'the claim that lists the roles (customer, operator)' }),
  AUTH_CUSTOMER_CLAIM: Type.String({ minLength: 1, default: 'customer_id', description: 'the claim that names the customer a customer token acts for' }),
};

/** The origins of API_CORS_ORIGINS, as a list. */
export const corsOriginsOf = (config: { API_CORS_ORIGINS: string }): string[] =>
  config.API_CORS_ORIGINS.split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '');

/**
 * Where a process without an HTTP server of its own serves Prometheus metrics (`/metrics`).
 * Each process has its own default port (README "What runs where"); 0 picks a free port.
 */
export const metricsEnv = (defaultPort: number) => ({
  METRICS_HOST: Type.String({ default: '127.0.0.1', description: 'address of the /metrics endpoint' }),
  METRICS_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: defaultPort, description: 'port of the /metrics endpoint' }),
});

/**
 * Validates `env` against `schema` (types, defaults, required), reporting every problem at once,
 * and returns a frozen, typed configuration. Nothing happens on import.
 * @throws ConfigError naming each bad variable.
 */
export function loadConfig<P extends TProperties>(schema: TObject<P>, env: NodeJS.ProcessEnv = process.env): Readonly<Static<TObject<P>>> {
  try {
    return Object.freeze(envSchema<Static<TObject<P>>>({ schema, data: { ...env }, env: false }));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}
