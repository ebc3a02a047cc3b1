import { join } from 'node:path';
import envSchema from 'env-schema';
import { Type, type Static } from 'typebox';
import { StackConfigError } from './errors.ts';
import { projectRoot } from './paths.ts';
import { minNamespaceRetentionMs } from './servers/temporal-namespace.ts';

const port = (defaultPort: number, description: string) => Type.Integer({ minimum: 1, maximum: 65535, default: defaultPort, description });

/** Environment variables of the local stack, with their defaults. */
export const StackEnvSchema = Type.Object({
  STACK_PROFILE: Type.Union([Type.Literal('dev'), Type.Literal('cluster')], {
    default: 'dev',
    description:
      'dev: the Temporal CLI dev server, one Kafka broker, one of each process; cluster: the Temporal server services on PostgreSQL with the standalone Web UI, three Kafka nodes, two of each process (also --profile)',
  }),
  STACK_TOOLS_DIR: Type.String({ default: join(projectRoot, '.tools'), description: 'where pinned servers are installed' }),
  STACK_DATA_DIR: Type.String({ default: join(projectRoot, '.data'), description: 'data, logs and pid files of the stack' }),
  TEMPORAL_PORT: port(7233, 'Temporal frontend (gRPC)'),
  TEMPORAL_UI_PORT: port(8233, 'Temporal Web UI'),
  // Temporal keeps each membership port in a PostgreSQL smallint: the last must stay below 32768.
  TEMPORAL_CLUSTER_PORT_BASE: Type.Integer({
    minimum: 1,
    maximum: 32_767 - 60,
    default: 7300,
    description: "first of the cluster profile's Temporal service ports (10 per process, 60 in all; Temporal stores them as smallint)",
  }),
  TEMPORAL_NAMESPACE: Type.String({ minLength: 1, default: 'default', description: 'the namespace the cluster profile registers at start' }),
  TEMPORAL_NAMESPACE_RETENTION_MS: Type.Integer({
    minimum: minNamespaceRetentionMs,
    default: 3 * 86_400_000,
    description:
      "how long a closed workflow's history stays in the namespace (its workflow execution retention, set at every start); at least 1000 (the floor the stack gives the server; the server's own is 1 hour)",
  }),
  KAFKA_PORT: port(9092, 'Kafka broker listener'),
  KAFKA_CONTROLLER_PORT: port(9093, 'Kafka KRaft controller listener'),
  KAFKA_HEAP_MB: Type.Integer({ minimum: 128, default: 512, description: 'Kafka JVM heap' }),
  KAFKA_RETENTION_CHECK_INTERVAL_MS: Type.Integer({
    minimum: 1000,
    default: 30_000,
    description: "how often the broker deletes what is past a topic's retention (log.retention.check.interval.ms)",
  }),
  POSTGRES_PORT: port(5433, 'PostgreSQL'),
  SMTP_SINK_PORT: port(2525, 'SMTP sink (SMTP)'),
  SMTP_SINK_HTTP_PORT: port(8025, 'SMTP sink (HTTP list of received mail)'),
  GATEWAY_PORT: port(3100, 'payment gateway simulator'),
  IDENTITY_PORT: port(3200, "local OpenID Connect provider (the issuer of the API's tokens)"),
  ZIPKIN_PORT: port(9411, 'Zipkin (trace viewer and span intake)'),
  ZIPKIN_MAX_SPANS: Type.Integer({ minimum: 100, default: 20000, description: 'spans Zipkin keeps in memory before it drops the oldest traces' }),
  ZIPKIN_HEAP_MB: Type.Integer({ minimum: 128, default: 256, description: 'Zipkin JVM heap' }),
  SCHEMA_REGISTRY_PORT: port(8081, 'schema registry (Apicurio; the Confluent-compatible API at /apis/ccompat/v7)'),
  SCHEMA_REGISTRY_HEAP_MB: Type.Integer({ minimum: 128, default: 256, description: 'schema registry JVM heap' }),
  API_PORT: port(3000, 'HTTP API (its /metrics too)'),
  API_TLS_PORT: port(3443, "HTTP API over TLS (cluster profile, first instance: the Temporal Web UI's codec endpoint)"),
  WORKER_METRICS_PORT: port(9464, 'Temporal worker /metrics'),
  TEMPORAL_SDK_METRICS_PORT: port(9465, "the Temporal SDK's own /metrics (worker process)"),
  CHOREOGRAPHY_METRICS_PORT: port(9466, 'choreography /metrics'),
  PROJECTOR_METRICS_PORT: port(9467, 'projector /metrics'),
  // The cluster profile runs two of each application process: the first takes the ports above,
  // the second these.
  API_PORT_2: port(3001, 'HTTP API, second instance (cluster profile; its /metrics too)'),
  WORKER_METRICS_PORT_2: port(9474, 'Temporal worker /metrics, second instance (cluster profile)'),
  TEMPORAL_SDK_METRICS_PORT_2: port(9475, "the Temporal SDK's own /metrics, second worker instance (cluster profile)"),
  CHOREOGRAPHY_METRICS_PORT_2: port(9476, 'choreography /metrics, second instance (cluster profile)'),
  PROJECTOR_METRICS_PORT_2: port(9477, 'projector /metrics, second instance (cluster profile)'),
  POSTGRES_USER: Type.String({ minLength: 1, default: 'order_saga' }),
  POSTGRES_PASSWORD: Type.String({ minLength: 1, default: 'order_saga' }),
  POSTGRES_DB: Type.String({ minLength: 1, default: 'order_saga' }),
  STACK_CPU_PROFILE_DIR: Type.String({
    default: '',
    description: 'when set, every application process writes a V8 CPU profile here as it stops (node --cpu-prof): what `npm run bench:profile` reads',
  }),
  STACK_LOG_MAX_MB: Type.Integer({
    minimum: 1,
    default: 64,
    description: "a process's log under the data folder past this is kept as <log>.1 and started again (npm start checks every 10 s)",
  }),
  STACK_READY_TIMEOUT_SECONDS: Type.Integer({ minimum: 5, default: 120, description: 'how long `up` waits for each server' }),
});

/** Validated, frozen configuration of the local stack. */
export type StackConfig = Readonly<Static<typeof StackEnvSchema>>;

/** Why a bound of a variable is what it is, added to the error of a value out of it. */
const boundReasons: Record<string, string> = {
  TEMPORAL_NAMESPACE_RETENTION_MS: `${minNamespaceRetentionMs} ms is the shortest namespace retention the stack's Temporal server accepts (a shorter one is refused: "A valid retention period is not set on request.")`,
};

/**
 * Reads the stack configuration from `env`, listing every invalid variable at once.
 * @throws StackConfigError naming each variable that is out of range or of the wrong type.
 */
export function loadStackConfig(env: NodeJS.ProcessEnv = process.env): StackConfig {
  try {
    return Object.freeze(envSchema<Static<typeof StackEnvSchema>>({ schema: StackEnvSchema, data: { ...env }, env: false }));
  } catch (err) {
    const message = Object.entries(boundReasons).reduce(
      (text, [name, reason]) => text.replace(new RegExp(`(env/${name} must be [^,]*)`), `$1: ${reason}`),
      (err as Error).message,
    );
    throw new StackConfigError(message);
  }
}
