/**
 * Process entry point: the HTTP API (`npm run api`), on API_HOST:API_PORT (default
 * 127.0.0.1:3000), Swagger UI at /docs; with API_TLS_PORT, over HTTPS there too (the cluster
 * profile's, for the Web UI's codec calls). Stops on SIGINT/SIGTERM after in-flight requests.
 */
// First: tracing starts before any module loads pg.
import { tracing } from '../observability/register-tracing.ts';
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { Type } from 'typebox';
import { createApiPool } from '../api/api-pool.ts';
import { buildApiApp, listenTls } from '../api/app.ts';
import { choreographySubscriptions } from '../choreography/services.ts';
import { createRenewingProducer } from '../messaging/renewing-producer.ts';
import { projectorGroup } from '../projections/projector.ts';
import { paymentVaultOf } from '../contexts/payments/payment-vault.ts';
import { jwksTokenVerifier } from '../api/auth.ts';
import { dependencyChecks } from '../api/readiness.ts';
import { clientTracingInterceptors } from '../observability/temporal-tracing.ts';
import { OrderSagaClient } from '../orchestration/order-saga-client.ts';
import { localClientIds } from '../platform/access-tokens.ts';
import {
  ApiOperationsEnv,
  ApiRetentionEnv,
  ApiSecurityEnv,
  AuthEnv,
  ConfigError,
  PaymentVaultEnv,
  DatabaseEnv,
  KafkaEnv,
  RetentionEnv,
  LogEnv,
  TemporalEnv,
  corsOriginsOf,
  loadConfig,
  metricsSourcesOf,
} from '../platform/config.ts';
import { createKafka } from '../platform/kafka.ts';
import { createLogger } from '../platform/logger.ts';
import { migrateAll } from '../platform/migrations.ts';
import { dataConverterOf, payloadCodecOf } from '../platform/payload-codec.ts';
import { temporalConnectionOptions } from '../platform/temporal-connection.ts';
import { runProcess, type ProcessLifecycle } from '../platform/process-lifecycle.ts';
import { wireOrderFlows } from './order-flows.ts';

async function main({ onStop, useLogger }: ProcessLifecycle): Promise<void> {
  const config = loadConfig(
    Type.Object({
      ...TemporalEnv,
      ...KafkaEnv,
      ...DatabaseEnv,
      ...LogEnv,
      ...ApiSecurityEnv,
      ...ApiOperationsEnv,
      ...AuthEnv,
      ...PaymentVaultEnv,
      ...ApiRetentionEnv,
      RETENTION_SWEEP_INTERVAL_MS: RetentionEnv.RETENTION_SWEEP_INTERVAL_MS,
      API_HOST: Type.String({ default: '127.0.0.1' }),
      API_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
      API_TLS_PORT: Type.Integer({
        minimum: 0,
        maximum: 65535,
        default: 0,
        description: 'also serve the API over HTTPS on this port, with API_TLS_CERT_FILE and API_TLS_KEY_FILE (0: no HTTPS listener)',
      }),
      API_TLS_CERT_FILE: Type.String({ default: '', description: "the HTTPS listener's certificate (PEM)" }),
      API_TLS_KEY_FILE: Type.String({ default: '', description: "the HTTPS listener's private key (PEM)" }),
      TEMPORAL_UI_URL: Type.String({ default: 'http://localhost:8233' }),
      CONSOLE_ENABLED: Type.Boolean({ default: true, description: 'serve the web console at /' }),
      CONSOLE_CLIENT_ID: Type.String({
        default: localClientIds.console,
        description: "the console's public client (authorization code with PKCE) at the issuer",
      }),
      CONSOLE_AUTH_ISSUER: Type.String({ default: '', description: 'where people sign in to the console, as a browser reaches it (default: AUTH_ISSUER)' }),
      CONSOLE_ZIPKIN_URL: Type.String({ default: '', description: "Zipkin's UI (http://host:9411/zipkin), for the console's links to an order's trace" }),
      CONSOLE_MAIL_URL: Type.String({
        default: '',
        description: "the mail an order caused (the stack's SMTP sink: http://host:8025/messages), for the console's links",
      }),
      TEMPORAL_CODEC_ENDPOINT_ENABLED: Type.Boolean({
        default: false,
        description: 'serve /codec/decode and /codec/encode (operators only) for the Web UI',
      }),
      TEMPORAL_CODEC_ENDPOINT_PUBLIC: Type.Boolean({
        default: false,
        description: 'let the codec endpoint answer without a token: for a Web UI without login (the dev server), on a loopback API_HOST only',
      }),
    }),
  );
  const payloadCodec = payloadCodecOf(config);
  if (config.TEMPORAL_CODEC_ENDPOINT_ENABLED && !payloadCodec)
    throw new ConfigError('TEMPORAL_CODEC_ENDPOINT_ENABLED needs TEMPORAL_PAYLOAD_KEYS or TEMPORAL_PAYLOAD_KEYS_FILE');
  // Whoever reaches a public codec endpoint reads every payload: only where nobody else can reach the API.
  if (config.TEMPORAL_CODEC_ENDPOINT_PUBLIC && !['127.0.0.1', '::1', 'localhost'].includes(config.API_HOST))
    throw new ConfigError(`TEMPORAL_CODEC_ENDPOINT_PUBLIC=true needs a loopback API_HOST (127.0.0.1, ::1, localhost), not ${config.API_HOST}`);
  if (config.API_TLS_PORT && (!config.API_TLS_CERT_FILE || !config.API_TLS_KEY_FILE))
    throw new ConfigError('API_TLS_PORT needs API_TLS_CERT_FILE and API_TLS_KEY_FILE (PEM files)');
  const tls = config.API_TLS_PORT ? { cert: readFileSync(config.API_TLS_CERT_FILE, 'utf8'), key: readFileSync(config.API_TLS_KEY_FILE, 'utf8') } : undefined;
  const log = createLogger('api', config.LOG_LEVEL);
  const pool = createApiPool(config.DATABASE_URL, config.DATABASE_POOL_MAX, (err) => log.warn({ err }, 'database connection lost; the pool reconnects'));
  if (config.MIGRATE_ON_START) await migrateAll(config.DATABASE_URL);
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const kafka = createKafka(config, `${config.KAFKA_CLIENT_ID}-api`);
  const kafkaAdmin = kafka.admin();
  await kafkaAdmin.connect();
  // Replays dead letters (operators, POST /dead-letters/:group/replay); a failed connect surfaces at the first replay.
  const replayProducer = createRenewingProducer(kafka, (err) => log.warn({ err }, 'dead-letter replay producer renewed after a failed send'));
  const sagas = new OrderSagaClient(
    new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, interceptors: clientTracingInterceptors(), dataConverter: dataConverterOf(payloadCodec) }),
    config.TEMPORAL_TASK_QUEUE,
  );
  const app = await buildApiApp({
    pool,
    flows: wireOrderFlows({ pool, sagas, vault: paymentVaultOf(config) }),
    ...(tls ? { tls } : {}),
    temporalUiUrl: config.TEMPORAL_UI_URL,
    namespace: config.TEMPORAL_NAMESPACE,
    logger: log,
    ...(config.CONSOLE_ENABLED
      ? {
          console: {
            issuer: config.CONSOLE_AUTH_ISSUER || config.AUTH_ISSUER,
            clientId: config.CONSOLE_CLIENT_ID,
            temporalUiUrl: config.TEMPORAL_UI_URL,
            namespace: config.TEMPORAL_NAMESPACE,
            zipkinUrl: config.CONSOLE_ZIPKIN_URL,
            mailUrl: config.CONSOLE_MAIL_URL,
          },
        }
      : {}),
    readiness: dependencyChecks({ pool, kafkaAdmin, sagas }),
    // The choreography's consumer groups and the projector's, as those processes name them.
    deadLetters: {
      kafka,
      producer: replayProducer,
      groups: Object.fromEntries([...Object.keys(choreographySubscriptions), projectorGroup].map((name) => [name, `${config.KAFKA_TOPIC_PREFIX}${name}`])),
    },
    metricsSources: metricsSourcesOf(config),
    // The sweeps start with the app (ready) and stop when it closes, before the pool ends.
    retention: {
      idempotencyKeyTtlMs: config.API_IDEMPOTENCY_KEY_TTL_MS,
      deadLetterReplaysRetentionMs: config.API_DEAD_LETTER_REPLAYS_RETENTION_MS,
      paymentVaultMs: config.PAYMENT_VAULT_RETENTION_MS,
      sweepIntervalMs: config.RETENTION_SWEEP_INTERVAL_MS,
    },
    security: { corsOrigins: corsOriginsOf(config), rateLimitPerMinute: config.API_RATE_LIMIT_PER_MINUTE },
    auth: jwksTokenVerifier({
      issuer: config.AUTH_ISSUER,
      audience: config.AUTH_AUDIENCE,
      jwksUrl: config.AUTH_JWKS_URL || undefined,
      rolesClaim: config.AUTH_ROLES_CLAIM,
      customerClaim: config.AUTH_CUSTOMER_CLAIM,
    }),
    ...(config.TEMPORAL_CODEC_ENDPOINT_ENABLED && payloadCodec
      ? {
          codecEndpoint: {
            codec: payloadCodec,
            uiOrigin: new URL(config.TEMPORAL_UI_URL).origin,
            access: config.TEMPORAL_CODEC_ENDPOINT_PUBLIC ? ('public' as const) : (['operator'] as ['operator']),
          },
        }
      : {}),
  });
  await app.listen({ host: config.API_HOST, port: config.API_PORT });
  if (tls) app.log.info({ url: await listenTls(app, { host: config.API_HOST, port: config.API_TLS_PORT }) }, 'https listener started');
  app.log.info('api started');
  // Closed in reverse: the app first, so in-flight requests finish while the clients they use are open.
  useLogger(log);
  onStop('tracing', () => tracing?.shutdown());
  onStop('database pool', () => pool.end());
  onStop('temporal connection', () => connection.close());
  onStop('kafka admin', () => kafkaAdmin.disconnect());
  onStop('dead-letter replay producer', () => replayProducer.disconnect());
  onStop('http server', () => app.close());
}

runProcess(main);
