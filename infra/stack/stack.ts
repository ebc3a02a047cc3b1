import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ensureStackCertificates, stackCertificatesOf, type StackCertificates } from './certificates.ts';
import type { StackConfig } from './config.ts';
import { StackError } from './errors.ts';
import { clusterToolPaths, type InstalledTools } from './install.ts';
import { installInputs } from './paths.ts';
import { ensurePayloadKeysFile, payloadKeysEnv, payloadKeysFileOf, paymentVaultKeysEnv, paymentVaultKeysFileOf } from './payload-keys.ts';
import { postgresUser } from './prerequisites.ts';
import { PidFiles, isRunning, type ProcessRecord } from './process.ts';
import { capture } from './run-command.ts';
import {
  createKafkaClusterServers,
  createKafkaServer,
  kafkaClientSecurity,
  kafkaClusterBrokers,
  kafkaClusterReplication,
  kafkaScramCredentials,
  type KafkaClusterSecurity,
} from './servers/kafka.ts';
import { createNodeService, httpProbe, logLineProbe } from './servers/node-service.ts';
import { createPostgresServer, postgresUrl, type PostgresTls } from './servers/postgres.ts';
import type { ManagedServer, ReplicatedAppProcess, ServerName } from './servers/server.ts';
import { createTemporalServer } from './servers/temporal.ts';
import {
  createTemporalClusterServers,
  temporalTlsServerName,
  temporalUiCallbackUrl,
  type TemporalClusterTls,
  type TemporalUiSecurity,
} from './servers/temporal-cluster.ts';
import { createSchemaRegistryServer, schemaRegistryUrl } from './servers/schema-registry.ts';
import { createZipkinServer, zipkinSpansUrl } from './servers/zipkin.ts';
import { startServer, stopServer } from './start-server.ts';
import { readClientsFile } from '../../src/platform/access-tokens.ts';

/** Reports progress to the person at the terminal. */
export type Reporter = (line: string) => void;

/** Where the stack keeps logs and pid files. */
export const stackFolders = (config: StackConfig) => ({
  logs: join(config.STACK_DATA_DIR, 'logs'),
  run: join(config.STACK_DATA_DIR, 'run'),
});

/**
 * The PostgreSQL data folder: one per profile. Each profile has its own Kafka and Temporal; with
 * one database for both, choreographed orders in flight when the profile changed were stranded
 * (their next events sat in the other profile's Kafka) and the relay sent the other profile's
 * outbox rows into this one's topics. When we are root, PostgreSQL runs as `postgres`, which must be able
 * to reach the folder; a project checked out under a private folder (mode 0700) is out of its
 * reach, so the cluster then lives under /var/tmp and the data folder holds a symlink to it.
 */
function postgresDataDir(config: StackConfig, runAs: { uid: number; gid: number } | undefined, report: Reporter): string {
  const folder = config.STACK_PROFILE === 'cluster' ? 'postgres-cluster' : 'postgres';
  const wanted = join(config.STACK_DATA_DIR, folder);
  if (!runAs) return wanted;
  mkdirSync(config.STACK_DATA_DIR, { recursive: true });
  if (capture('test', ['-x', config.STACK_DATA_DIR], runAs).status === 0) return wanted;
  const outside = join('/var/tmp', `order-saga-${createHash('sha256').update(config.STACK_DATA_DIR).digest('hex').slice(0, 12)}`, folder);
  if (!existsSync(wanted) && !isSymlink(wanted)) {
    report(`the postgres user cannot reach ${config.STACK_DATA_DIR}; PostgreSQL data goes to ${outside} (symlinked from ${wanted})`);
    mkdirSync(join(outside, '..'), { recursive: true, mode: 0o755 });
    symlinkSync(outside, wanted);
  }
  return outside;
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * The cluster profile's certificates: its CA and a certificate per server and Temporal client,
 * under STACK_DATA_DIR/secrets/tls, made by the first of its servers to start. The dev profile has
 * none: every hop of it is plain TCP on loopback.
 */
export function clusterCertificatesOf(config: Pick<StackConfig, 'STACK_PROFILE' | 'STACK_DATA_DIR'>): StackCertificates | undefined {
  return config.STACK_PROFILE === 'cluster' ? stackCertificatesOf(config.STACK_DATA_DIR) : undefined;
}

/** `server`, whose preparation first makes the stack's certificates when they are missing (in the cluster profile). */
export function withStackCertificates(config: Pick<StackConfig, 'STACK_PROFILE' | 'STACK_DATA_DIR'>, server: ManagedServer): ManagedServer {
  if (config.STACK_PROFILE !== 'cluster') return server;
  return {
    ...server,
    prepare: () => {
      ensureStackCertificates(config.STACK_DATA_DIR);
      return server.prepare();
    },
  };
}

/** PostgreSQL's certificate and key in the cluster profile (TLS only); none in the dev profile. */
export function postgresTlsOf(config: Pick<StackConfig, 'STACK_PROFILE' | 'STACK_DATA_DIR'>): PostgresTls | undefined {
  const certificates = clusterCertificatesOf(config);
  return certificates && { ...certificates.pairs.postgres, ca: certificates.ca };
}

/**
 * The application database's URL: in the cluster profile over TLS, the client verifying the
 * server's certificate against the stack's CA (`sslmode=verify-full&sslrootcert=...`).
 */
export function databaseUrlOf(config: StackConfig): string {
  return postgresUrl({
    user: config.POSTGRES_USER,
    password: config.POSTGRES_PASSWORD,
    port: config.POSTGRES_PORT,
    database: config.POSTGRES_DB,
    tls: postgresTlsOf(config),
  });
}

/**
 * The cluster profile's Temporal (frontend, history x2, matching x2, worker, Web UI) on the
 * stack's PostgreSQL, which must answer first when started in the same call. Their binaries are
 * not checked here: `up` installs them first (`installClusterTools`).
 */
export function temporalClusterServers(config: StackConfig): ManagedServer[] {
  const tools = clusterToolPaths(config.STACK_TOOLS_DIR);
  return createTemporalClusterServers({
    server: tools.temporalServer,
    sqlTool: tools.temporalSql,
    uiServer: tools.temporalUi,
    configTemplate: installInputs.temporalClusterConfig,
    dynamicConfig: installInputs.temporalDynamicConfig,
    dataDir: config.STACK_DATA_DIR,
    logsDir: stackFolders(config).logs,
    port: config.TEMPORAL_PORT,
    uiPort: config.TEMPORAL_UI_PORT,
    portBase: config.TEMPORAL_CLUSTER_PORT_BASE,
    postgres: {
      port: config.POSTGRES_PORT,
      user: config.POSTGRES_USER,
      password: config.POSTGRES_PASSWORD,
      ...(postgresTlsOf(config) ? { tlsCa: postgresTlsOf(config)!.ca } : {}),
    },
    namespace: config.TEMPORAL_NAMESPACE,
    namespaceRetentionMs: config.TEMPORAL_NAMESPACE_RETENTION_MS,
    dependsOn: ['postgres'],
    ...(temporalTlsOf(config) ? { tls: temporalTlsOf(config)! } : {}),
    ...(process.env.AUTH_ISSUER ? {} : { ui: temporalUiSecurityOf(config) }),
  }).map((server) => withStackCertificates(config, server));
}

/**
 * The cluster profile's Web UI signs its users in at the stack's identity provider (its login page
 * takes any password; the login `operator` is an operator) and passes their access token to the
 * API's codec endpoint, which decodes payloads for operators only. A person who names an issuer of
 * their own (AUTH_ISSUER) configures ui-server's `auth` for it themselves (README).
 */
function temporalUiSecurityOf(config: StackConfig): TemporalUiSecurity {
  return {
    issuer: identityIssuerOf(config),
    client: () => {
      const { webUi } = readClientsFile(identityClientsFileOf(config));
      if (!webUi?.clientSecret) throw new Error(`${identityClientsFileOf(config)} has no Web UI client: the identity provider did not make one`);
      return webUi;
    },
    // HTTPS: the UI passes its user's token to an HTTPS codec endpoint only (the first API instance's listener).
    codecEndpoint: `https://localhost:${config.API_TLS_PORT}/codec`,
    dependsOn: ['identity-provider'],
  };
}

/** The cluster profile's Temporal mTLS certificates; none in the dev profile (the dev server is plaintext). */
export function temporalTlsOf(config: Pick<StackConfig, 'STACK_PROFILE' | 'STACK_DATA_DIR'>): TemporalClusterTls | undefined {
  const certificates = clusterCertificatesOf(config);
  if (!certificates) return undefined;
  const { pairs } = certificates;
  return { ca: certificates.ca, frontend: pairs['temporal-frontend'], internode: pairs['temporal-internode'], client: pairs['temporal-client'] };
}

/**
 * How the application reaches the profile's Temporal frontend: in the cluster profile with mTLS
 * (the stack's CA, the client certificate, the name the certificate is verified as).
 */
export function temporalEnvOf(config: StackConfig): Record<string, string> {
  const tls = temporalTlsOf(config);
  return {
    TEMPORAL_ADDRESS: `127.0.0.1:${config.TEMPORAL_PORT}`,
    ...(tls
      ? {
          TEMPORAL_TLS: 'true',
          TEMPORAL_TLS_CA_PATH: tls.ca,
          TEMPORAL_TLS_CERT_PATH: tls.client.cert,
          TEMPORAL_TLS_KEY_PATH: tls.client.key,
          TEMPORAL_TLS_SERVER_NAME: temporalTlsServerName,
        }
      : {}),
  };
}

/**
 * The cluster profile's Kafka: three KRaft nodes (kafka-1..3), node n on KAFKA_PORT and
 * KAFKA_CONTROLLER_PORT plus 100 (n - 1), each with a KAFKA_HEAP_MB heap.
 */
export function kafkaClusterServers(config: StackConfig, tools: Pick<InstalledTools, 'java' | 'kafkaLibDir' | 'kafkaLog4jConfig'>): ManagedServer[] {
  return createKafkaClusterServers({
    java: tools.java,
    libDir: tools.kafkaLibDir,
    log4jConfig: tools.kafkaLog4jConfig,
    dataDir: join(config.STACK_DATA_DIR, 'kafka-cluster'),
    port: config.KAFKA_PORT,
    controllerPort: config.KAFKA_CONTROLLER_PORT,
    heapMb: config.KAFKA_HEAP_MB,
    retentionCheckIntervalMs: config.KAFKA_RETENTION_CHECK_INTERVAL_MS,
    logsDir: stackFolders(config).logs,
    ...(kafkaSecurityOf(config) ? { security: kafkaSecurityOf(config)! } : {}),
  }).map((server) => withStackCertificates(config, server));
}

/** Where the cluster profile keeps its Kafka SCRAM users (made once, 0600): STACK_DATA_DIR/secrets/kafka-scram.json. */
export const kafkaScramFileOf = (config: Pick<StackConfig, 'STACK_DATA_DIR'>) => join(config.STACK_DATA_DIR, 'secrets', 'kafka-scram.json');

/** The cluster profile's Kafka security: the stack's CA and node certificates, and its SCRAM users; none in the dev profile. */
export function kafkaSecurityOf(config: Pick<StackConfig, 'STACK_PROFILE' | 'STACK_DATA_DIR'>): KafkaClusterSecurity | undefined {
  const certificates = clusterCertificatesOf(config);
  if (!certificates) return undefined;
  const { pairs } = certificates;
  return {
    ca: certificates.ca,
    nodeCertificates: { 'kafka-1': pairs['kafka-1'], 'kafka-2': pairs['kafka-2'], 'kafka-3': pairs['kafka-3'] },
    credentialsFile: kafkaScramFileOf(config),
  };
}

/**
 * The kafkajs settings (TLS against the stack CA, SCRAM as the application's user) of a client of
 * the cluster profile's Kafka; none in the dev profile. Makes the SCRAM users when missing.
 */
export function kafkaClientSecurityOf(
  config: Pick<StackConfig, 'STACK_PROFILE' | 'STACK_DATA_DIR'>,
): ReturnType<typeof kafkaClientSecurity> | Record<string, never> {
  const security = kafkaSecurityOf(config);
  return security ? kafkaClientSecurity(security.ca, kafkaScramCredentials(security.credentialsFile).client) : {};
}

/**
 * An application process of `config`'s profile: in the cluster profile its preparation makes the
 * stack's certificates when missing, and it gets the Kafka SCRAM user when it starts (read then,
 * so that the password is never in a file other than the 0600 one, nor printed with the endpoints).
 */
function clusterAppService(config: StackConfig, service: ManagedServer): ManagedServer {
  const security = kafkaSecurityOf(config);
  if (!security) return service;
  return {
    ...withStackCertificates(config, service),
    launchSpec: () => {
      const spec = service.launchSpec();
      const { client } = kafkaScramCredentials(security.credentialsFile);
      return { ...spec, env: { ...spec.env, KAFKA_SASL_USERNAME: client.username, KAFKA_SASL_PASSWORD: client.password } };
    },
  };
}

/**
 * How the application reaches the profile's Kafka: every broker, and in the cluster profile the
 * replication of the topics it creates and the TLS and SASL settings (not the SCRAM user).
 */
export function kafkaEnvOf(config: StackConfig): Record<string, string> {
  if (config.STACK_PROFILE !== 'cluster') return { KAFKA_BROKERS: `127.0.0.1:${config.KAFKA_PORT}` };
  return {
    KAFKA_BROKERS: kafkaClusterBrokers({ port: config.KAFKA_PORT, controllerPort: config.KAFKA_CONTROLLER_PORT }).join(','),
    KAFKA_REPLICATION_FACTOR: String(kafkaClusterReplication.replicas),
    // TLS verified against the stack's CA, and SCRAM (the user and password are added at launch: clusterAppService).
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA_PATH: kafkaSecurityOf(config)!.ca,
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
  };
}

/**
 * The stack's schema registry, the same in both profiles: the cluster profile runs one too, not
 * one per Kafka node (the application reaches it over plain HTTP on loopback, and its schemas
 * stay in an H2 file under the profile's data folder, so that ids survive a restart).
 */
export function schemaRegistryServer(config: StackConfig, tools: Pick<InstalledTools, 'java' | 'schemaRegistryJar'>): ManagedServer {
  return createSchemaRegistryServer({
    java: tools.java,
    jar: tools.schemaRegistryJar,
    port: config.SCHEMA_REGISTRY_PORT,
    // One per profile, as each profile has its own Kafka: the ids in one's topics are its registry's.
    dataDir: join(config.STACK_DATA_DIR, config.STACK_PROFILE === 'cluster' ? 'schema-registry-cluster' : 'schema-registry'),
    heapMb: config.SCHEMA_REGISTRY_HEAP_MB,
    logPath: join(stackFolders(config).logs, 'schema-registry.log'),
  });
}

/**
 * The servers of the stack (PostgreSQL, Kafka, Temporal, Zipkin, the schema registry, SMTP sink),
 * configured from `config`: in the cluster profile the Temporal server services and the
 * standalone Web UI take the dev server's place, and three Kafka nodes the single broker's.
 */
export function stackServers(config: StackConfig, tools: InstalledTools, report: Reporter = () => undefined): ManagedServer[] {
  const logs = stackFolders(config).logs;
  const runAs = process.getuid?.() === 0 ? postgresUser() : undefined;
  const cluster = config.STACK_PROFILE === 'cluster';
  const temporal = cluster
    ? temporalClusterServers(config)
    : [
        createTemporalServer({
          temporal: tools.temporal,
          port: config.TEMPORAL_PORT,
          uiPort: config.TEMPORAL_UI_PORT,
          dbFile: join(config.STACK_DATA_DIR, 'temporal', 'temporal.db'),
          logPath: join(logs, 'temporal.log'),
          namespaceRetentionMs: config.TEMPORAL_NAMESPACE_RETENTION_MS,
          // The dev profile's API serves the codec endpoint (see appServices), so the UI shows decoded payloads.
          uiCodecEndpoint: `http://localhost:${config.API_PORT}/codec`,
        }),
      ];
  const kafka = cluster
    ? kafkaClusterServers(config, tools)
    : [
        createKafkaServer({
          java: tools.java,
          libDir: tools.kafkaLibDir,
          log4jConfig: tools.kafkaLog4jConfig,
          dataDir: join(config.STACK_DATA_DIR, 'kafka'),
          port: config.KAFKA_PORT,
          controllerPort: config.KAFKA_CONTROLLER_PORT,
          heapMb: config.KAFKA_HEAP_MB,
          retentionCheckIntervalMs: config.KAFKA_RETENTION_CHECK_INTERVAL_MS,
          logPath: join(logs, 'kafka.log'),
        }),
      ];
  const postgresTls = postgresTlsOf(config);
  return [
    withStackCertificates(
      config,
      createPostgresServer({
        binDir: tools.postgresBinDir,
        dataDir: postgresDataDir(config, runAs, report),
        port: config.POSTGRES_PORT,
        user: config.POSTGRES_USER,
        password: config.POSTGRES_PASSWORD,
        database: config.POSTGRES_DB,
        logPath: join(logs, 'postgres.log'),
        ...(cluster ? { maxConnections: 400 } : {}),
        ...(runAs ? { runAs } : {}),
        ...(postgresTls ? { tls: postgresTls } : {}),
      }),
    ),
    ...kafka,
    ...temporal,
    createZipkinServer({
      java: tools.java,
      jar: tools.zipkinJar,
      port: config.ZIPKIN_PORT,
      maxSpans: config.ZIPKIN_MAX_SPANS,
      heapMb: config.ZIPKIN_HEAP_MB,
      logPath: join(logs, 'zipkin.log'),
    }),
    schemaRegistryServer(config, tools),
    identityProviderServer(config),
    createNodeService({
      name: 'smtp-sink',
      entry: 'src/workers/smtp-sink.ts',
      cpuProfileDir: config.STACK_CPU_PROFILE_DIR || undefined,
      env: { SMTP_SINK_PORT: String(config.SMTP_SINK_PORT), SMTP_SINK_HTTP_PORT: String(config.SMTP_SINK_HTTP_PORT) },
      ports: [
        { port: config.SMTP_SINK_PORT, setting: 'SMTP_SINK_PORT' },
        { port: config.SMTP_SINK_HTTP_PORT, setting: 'SMTP_SINK_HTTP_PORT' },
      ],
      logPath: join(logs, 'smtp-sink.log'),
      probe: httpProbe(`http://127.0.0.1:${config.SMTP_SINK_HTTP_PORT}/healthz`),
      endpoints: { 'SMTP sink': `smtp://127.0.0.1:${config.SMTP_SINK_PORT}`, 'Received mail': `http://localhost:${config.SMTP_SINK_HTTP_PORT}/messages` },
    }),
  ];
}

/** The local identity provider's issuer URL: the `iss` of the API's tokens. */
export const identityIssuerOf = (config: Pick<StackConfig, 'IDENTITY_PORT'>) => `http://127.0.0.1:${config.IDENTITY_PORT}`;

/** What `npm run token`, the demo and the benchmark read to get tokens from the stack's identity provider (git-ignored, under STACK_DATA_DIR). */
export const identityClientsFileOf = (config: Pick<StackConfig, 'STACK_DATA_DIR'>) => join(config.STACK_DATA_DIR, 'secrets', 'identity-clients.json');

/**
 * The local OpenID Connect provider (src/workers/identity-provider.ts), the issuer of the API's
 * tokens: its signing key and client secrets stay in the stack's data folder across restarts.
 */
export function identityProviderServer(config: StackConfig): ManagedServer {
  return createNodeService({
    name: 'identity-provider',
    entry: 'src/workers/identity-provider.ts',
    env: {
      IDENTITY_PORT: String(config.IDENTITY_PORT),
      IDENTITY_ISSUER: identityIssuerOf(config),
      IDENTITY_STATE_FILE: join(config.STACK_DATA_DIR, 'secrets', 'identity-provider.json'),
      IDENTITY_CLIENTS_FILE: identityClientsFileOf(config),
      // The cluster profile's Web UI signs its users in here (authorization code, a login page).
      ...(config.STACK_PROFILE === 'cluster' ? { IDENTITY_WEB_UI_REDIRECT_URI: temporalUiCallbackUrl(config.TEMPORAL_UI_PORT) } : {}),
      // The web console of every API instance signs its users in here (authorization code with PKCE).
      IDENTITY_CONSOLE_REDIRECT_URIS: consoleRedirectUrisOf(instancesOf(config).map((instance) => instance.ports.api.port)).join(','),
    },
    ports: [{ port: config.IDENTITY_PORT, setting: 'IDENTITY_PORT' }],
    logPath: join(stackFolders(config).logs, 'identity-provider.log'),
    probe: httpProbe(`${identityIssuerOf(config)}/.well-known/openid-configuration`),
    endpoints: { 'Identity provider': `${identityIssuerOf(config)}/.well-known/openid-configuration` },
  });
}

/**
 * The API's token settings: the stack's identity provider, unless the person starting the stack
 * named an issuer of their own (AUTH_ISSUER), which then wins with the rest of their AUTH_* settings.
 */
function apiAuthEnv(config: StackConfig): Record<string, string> {
  return process.env.AUTH_ISSUER ? {} : { AUTH_ISSUER: identityIssuerOf(config) };
}

/**
 * The servers of `config`'s profile, and those only the other profile runs that have a pid file:
 * `down` and `status` without the profile flag must still see a Temporal started with the other.
 */
export function stackServersInUse(config: StackConfig, tools: InstalledTools): ManagedServer[] {
  const own = stackServers(config, tools);
  const other = stackServers({ ...config, STACK_PROFILE: config.STACK_PROFILE === 'cluster' ? 'dev' : 'cluster' }, tools);
  const pids = new PidFiles(stackFolders(config).run);
  return [...own, ...other.filter((server) => !own.some((s) => s.name === server.name) && pids.read(server.name))];
}

/**
 * Spans of the application go to the stack's Zipkin, unless the person starting it pointed them
 * elsewhere with the standard OTEL_* variables (an OTLP collector, say), which then win.
 */
function tracingEnv(config: StackConfig): Record<string, string> {
  const own = ['OTEL_TRACES_EXPORTER', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_SDK_DISABLED'].some(
    (name) => process.env[name],
  );
  return own ? {} : { OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: zipkinSpansUrl(config.ZIPKIN_PORT), OTEL_BSP_SCHEDULE_DELAY: '1000' };
}

/**
 * The API's rate limit per client address is off in the stack, unless the person starting it set
 * API_RATE_LIMIT_PER_MINUTE (which then wins): every client of the stack is 127.0.0.1, and the
 * benchmark places up to about 60 orders a second from it, above the limit's default of 600 a minute.
 */
function apiRateLimitEnv(): Record<string, string> {
  return process.env.API_RATE_LIMIT_PER_MINUTE ? {} : { API_RATE_LIMIT_PER_MINUTE: '0' };
}

/**
 * Where the API's GET /operations/backlog reads the backlog: the metrics of every choreography
 * and projector instance of the profile (a port of 0, a free one picked at start, cannot be named).
 */
function operationsMetricsEnv(config: StackConfig): Record<string, string> {
  const sources = instancesOf(config).flatMap((instance) =>
    (['choreography', 'projector'] as const).flatMap((process) => {
      const { port } = process === 'choreography' ? instance.ports.choreographyMetrics : instance.ports.projectorMetrics;
      return port === 0 ? [] : [`${instance.name(process)}=http://127.0.0.1:${port}/metrics`];
    }),
  );
  return { API_OPERATIONS_METRICS_URLS: sources.join(',') };
}

/** A port of an application process, with the variable that moves it. */
export interface AppPort {
  port: number;
  setting: string;
}

/** One instance of the replicated application processes: what it is called, and the ports only it listens on. */
export interface AppInstance {
  /** 1 or 2 in the cluster profile; undefined for the dev profile's single instance. */
  readonly number: 1 | 2 | undefined;
  /** The instance's process name: `api` in the dev profile, `api-1`/`api-2` in the cluster profile (also its log and pid file). */
  name(process: ReplicatedAppProcess): ServerName;
  /** Endpoint labels that name the instance answering there, `API (api-2)`; unchanged in the dev profile. */
  label(process: ReplicatedAppProcess, endpoints: Record<string, string>): Record<string, string>;
  readonly ports: {
    api: AppPort;
    /** The API's HTTPS listener: the cluster profile's first instance only (the Web UI's codec endpoint). */
    apiTls?: AppPort;
    workerMetrics: AppPort;
    sdkMetrics: AppPort;
    choreographyMetrics: AppPort;
    projectorMetrics: AppPort;
  };
}

/**
 * Where the console served by an API on each of `ports` takes its users back after sign-in: its
 * page, under both names a person may open it by.
 */
export const consoleRedirectUrisOf = (ports: readonly number[]): string[] =>
  ports.flatMap((port) => [`http://localhost:${port}/`, `http://127.0.0.1:${port}/`]);

/**
 * The instances of the Temporal worker, choreography, projector and API the profile runs: one in
 * the dev profile (plain names and ports), two in the cluster profile, the second on the `*_2`
 * ports. Both instances share the consumer groups, the task queue and the database; the code is
 * safe for that (outbox relay under one advisory lock, sweeper with SKIP LOCKED, consumers and
 * projector deduplicating by event id, the API's idempotency keys in PostgreSQL).
 */
export function instancesOf(config: StackConfig): readonly AppInstance[] {
  const first = {
    api: { port: config.API_PORT, setting: 'API_PORT' },
    workerMetrics: { port: config.WORKER_METRICS_PORT, setting: 'WORKER_METRICS_PORT' },
    sdkMetrics: { port: config.TEMPORAL_SDK_METRICS_PORT, setting: 'TEMPORAL_SDK_METRICS_PORT' },
    choreographyMetrics: { port: config.CHOREOGRAPHY_METRICS_PORT, setting: 'CHOREOGRAPHY_METRICS_PORT' },
    projectorMetrics: { port: config.PROJECTOR_METRICS_PORT, setting: 'PROJECTOR_METRICS_PORT' },
  };
  if (config.STACK_PROFILE !== 'cluster') {
    return [{ number: undefined, name: (process) => process, label: (_process, endpoints) => endpoints, ports: first }];
  }
  const second = {
    api: { port: config.API_PORT_2, setting: 'API_PORT_2' },
    workerMetrics: { port: config.WORKER_METRICS_PORT_2, setting: 'WORKER_METRICS_PORT_2' },
    sdkMetrics: { port: config.TEMPORAL_SDK_METRICS_PORT_2, setting: 'TEMPORAL_SDK_METRICS_PORT_2' },
    choreographyMetrics: { port: config.CHOREOGRAPHY_METRICS_PORT_2, setting: 'CHOREOGRAPHY_METRICS_PORT_2' },
    projectorMetrics: { port: config.PROJECTOR_METRICS_PORT_2, setting: 'PROJECTOR_METRICS_PORT_2' },
  };
  return ([1, 2] as const).map((number) => ({
    number,
    name: (process: ReplicatedAppProcess): ServerName => `${process}-${number}`,
    label: (process: ReplicatedAppProcess, endpoints: Record<string, string>) =>
      Object.fromEntries(Object.entries(endpoints).map(([label, value]) => [`${label} (${process}-${number})`, value])),
    ports: number === 1 ? { ...first, apiTls: { port: config.API_TLS_PORT, setting: 'API_TLS_PORT' } } : second,
  }));
}

/**
 * The application processes of `config`'s profile, and those of the other profile that have a pid
 * file: `down` and `status` without the profile flag must still see `api-1`, `api-2`, ... (or `api`).
 */
export function appServicesInUse(config: StackConfig): ManagedServer[] {
  const own = appServices(config);
  const other = appServices({ ...config, STACK_PROFILE: config.STACK_PROFILE === 'cluster' ? 'dev' : 'cluster' });
  const pids = new PidFiles(stackFolders(config).run);
  return [...own, ...other.filter((service) => !own.some((s) => s.name === service.name) && pids.read(service.name))];
}

/**
 * The application processes `npm start` runs on top of the stack: the payment gateway simulator,
 * the Temporal worker (orchestrated flow), the choreography services with the outbox relay, and
 * the read model projector and the HTTP API, pointed at the stack's servers. The cluster profile
 * runs two of each of the last four (`api-1`, `api-2`, ...; see {@link instancesOf}); the gateway
 * stays one, as it stands for an external processor.
 */
export function appServices(config: StackConfig): ManagedServer[] {
  const logs = stackFolders(config).logs;
  const backends = {
    ...kafkaEnvOf(config),
    DATABASE_URL: databaseUrlOf(config),
    PAYMENT_GATEWAY_URL: `http://127.0.0.1:${config.GATEWAY_PORT}`,
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(config.SMTP_SINK_PORT),
    SCHEMA_REGISTRY_URL: schemaRegistryUrl(config.SCHEMA_REGISTRY_PORT),
    ...tracingEnv(config),
  };
  // Payloads of the orders' workflows are encrypted with the stack's own key ring (generated once).
  const payloadKeys = payloadKeysEnv(config);
  // And payment tokens in the vault with the stack's vault key ring (generated once too).
  const vaultKeys = paymentVaultKeysEnv(config);
  const preparePayloadKeys = () => {
    if (payloadKeys.TEMPORAL_PAYLOAD_KEYS_FILE === payloadKeysFileOf(config)) ensurePayloadKeysFile(payloadKeysFileOf(config));
    if (vaultKeys.PAYMENT_VAULT_KEYS_FILE === paymentVaultKeysFileOf(config)) ensurePayloadKeysFile(paymentVaultKeysFileOf(config));
  };
  const operationsMetrics = operationsMetricsEnv(config);
  // One set per instance: the dev profile's one keeps the plain names, ports and logs.
  const instanceServices = (instance: AppInstance): ManagedServer[] => {
    const { ports } = instance;
    const workerLog = join(logs, `${instance.name('temporal-worker')}.log`);
    const choreographyLog = join(logs, `${instance.name('choreography')}.log`);
    const projectorLog = join(logs, `${instance.name('projector')}.log`);
    return [
      createNodeService({
        name: instance.name('temporal-worker'),
        entry: 'src/workers/temporal-worker.ts',
        cpuProfileDir: config.STACK_CPU_PROFILE_DIR || undefined,
        prepare: preparePayloadKeys,
        env: {
          ...temporalEnvOf(config),
          ...backends,
          ...payloadKeys,
          ...vaultKeys,
          METRICS_PORT: String(ports.workerMetrics.port),
          TEMPORAL_SDK_METRICS_PORT: String(ports.sdkMetrics.port),
        },
        ports: [ports.workerMetrics, ports.sdkMetrics],
        logPath: workerLog,
        probe: logLineProbe(workerLog, 'worker started'),
        endpoints: instance.label('temporal-worker', {
          'Temporal worker': 'task queue orders',
          'Worker metrics': `http://localhost:${ports.workerMetrics.port}/metrics`,
          'SDK metrics': `http://localhost:${ports.sdkMetrics.port}/metrics`,
        }),
      }),
      createNodeService({
        name: instance.name('choreography'),
        entry: 'src/workers/choreography.ts',
        cpuProfileDir: config.STACK_CPU_PROFILE_DIR || undefined,
        prepare: preparePayloadKeys,
        env: { ...backends, ...vaultKeys, METRICS_PORT: String(ports.choreographyMetrics.port) },
        ports: [ports.choreographyMetrics],
        logPath: choreographyLog,
        probe: logLineProbe(choreographyLog, 'choreography started'),
        endpoints: instance.label('choreography', {
          Choreography: 'consumer groups orders, inventory, payments, notifications + outbox relay',
          'Choreography metrics': `http://localhost:${ports.choreographyMetrics.port}/metrics`,
        }),
      }),
      withStackCertificates(
        config,
        createNodeService({
          name: instance.name('api'),
          entry: 'src/workers/api.ts',
          cpuProfileDir: config.STACK_CPU_PROFILE_DIR || undefined,
          prepare: preparePayloadKeys,
          env: {
            ...backends,
            ...payloadKeys,
            ...vaultKeys,
            ...temporalEnvOf(config),
            API_PORT: String(ports.api.port),
            ...(ports.apiTls
              ? {
                  API_TLS_PORT: String(ports.apiTls.port),
                  API_TLS_CERT_FILE: stackCertificatesOf(config.STACK_DATA_DIR).pairs.api.cert,
                  API_TLS_KEY_FILE: stackCertificatesOf(config.STACK_DATA_DIR).pairs.api.key,
                }
              : // Not inherited from the stack's own environment (where it names the first instance's port).
                { API_TLS_PORT: '0' }),
            TEMPORAL_UI_URL: `http://localhost:${config.TEMPORAL_UI_PORT}`,
            // The console's links to an order's trace and mail.
            CONSOLE_ZIPKIN_URL: `http://localhost:${config.ZIPKIN_PORT}/zipkin`,
            CONSOLE_MAIL_URL: `http://localhost:${config.SMTP_SINK_HTTP_PORT}/messages`,
            ...apiRateLimitEnv(),
            ...apiAuthEnv(config),
            ...operationsMetrics,
            // The dev server's Web UI has no login, so no token to pass: its codec endpoint answers
            // without one, which the API allows on a loopback address only (the stack's). The
            // cluster profile's Web UI signs its users in and passes their token: operators only.
            ...(config.STACK_PROFILE === 'cluster'
              ? { TEMPORAL_CODEC_ENDPOINT_ENABLED: 'true' }
              : { TEMPORAL_CODEC_ENDPOINT_ENABLED: 'true', TEMPORAL_CODEC_ENDPOINT_PUBLIC: 'true' }),
          },
          ports: ports.apiTls ? [ports.api, ports.apiTls] : [ports.api],
          logPath: join(logs, `${instance.name('api')}.log`),
          probe: httpProbe(`http://127.0.0.1:${ports.api.port}/readyz`),
          endpoints: instance.label('api', {
            'Web console': `http://localhost:${ports.api.port}/`,
            API: `http://localhost:${ports.api.port}/orders`,
            'Swagger UI': `http://localhost:${ports.api.port}/docs`,
            'API metrics': `http://localhost:${ports.api.port}/metrics`,
            ...(ports.apiTls ? { 'API over TLS': `https://localhost:${ports.apiTls.port}/orders (the Web UI's codec endpoint: /codec)` } : {}),
          }),
        }),
      ),
      createNodeService({
        name: instance.name('projector'),
        entry: 'src/workers/projector.ts',
        cpuProfileDir: config.STACK_CPU_PROFILE_DIR || undefined,
        env: { ...backends, METRICS_PORT: String(ports.projectorMetrics.port) },
        ports: [ports.projectorMetrics],
        logPath: projectorLog,
        probe: logLineProbe(projectorLog, 'projector started'),
        endpoints: instance.label('projector', {
          Projector: 'read_model.order_view, read_model.order_timeline',
          'Projector metrics': `http://localhost:${ports.projectorMetrics.port}/metrics`,
        }),
      }),
    ];
  };
  return [
    createNodeService({
      name: 'payment-gateway',
      entry: 'src/workers/payment-gateway.ts',
      cpuProfileDir: config.STACK_CPU_PROFILE_DIR || undefined,
      // Its books survive a restart, as a real processor's do: "never charged twice" holds across one.
      env: { GATEWAY_PORT: String(config.GATEWAY_PORT), GATEWAY_LEDGER_PATH: join(config.STACK_DATA_DIR, 'gateway', 'ledger.jsonl') },
      ports: [{ port: config.GATEWAY_PORT, setting: 'GATEWAY_PORT' }],
      logPath: join(logs, 'payment-gateway.log'),
      probe: httpProbe(`http://127.0.0.1:${config.GATEWAY_PORT}/healthz`),
      endpoints: { 'Payment gateway': `http://localhost:${config.GATEWAY_PORT}/v1/charges` },
    }),
    // They read the CA, client certificates and Kafka user of the cluster profile's hops at start.
    ...instancesOf(config)
      .flatMap(instanceServices)
      .map((service) => clusterAppService(config, service)),
  ];
}

/** One server's state, as `stack:status` shows it. */
export interface ServerStatus {
  name: ServerName;
  state: 'up' | 'not answering' | 'down';
  pid?: number;
  detail?: string;
  endpoints: Record<string, string>;
  logPath: string;
  /** How many times `npm start` restarted it. */
  restarts?: number;
  /** Why it last ended on its own, and when. */
  lastExit?: { reason: string; at: string };
}

/** What `up` did: the servers it started, and those that were already running. */
export interface UpResult {
  started: ServerName[];
  alreadyRunning: ServerName[];
}

/**
 * Starts every server of the stack that is not running yet, in parallel, and waits until each
 * answers. A second call finds them running and starts nothing.
 * @throws StackError naming every server that failed, with the path of its log.
 */
export async function stackUp(config: StackConfig, servers: ManagedServer[], report: Reporter, attempts = 1): Promise<UpResult> {
  const pids = new PidFiles(stackFolders(config).run);
  const result: UpResult = { started: [], alreadyRunning: [] };
  const startOne = async (server: ManagedServer): Promise<void> => {
    const existing = pids.read(server.name);
    if (existing && isRunning(existing)) {
      result.alreadyRunning.push(server.name);
      return;
    }
    report(`starting ${server.name} (log: ${server.logPath})`);
    let record;
    for (let attempt = 1; ; attempt++) {
      try {
        record = await startServer(server, config.STACK_READY_TIMEOUT_SECONDS * 1000);
        break;
      } catch (err) {
        if (attempt >= attempts) throw err;
        report(`${server.name} did not start (${(err as Error).message}); trying again`);
      }
    }
    pids.write(record);
    result.started.push(server.name);
    report(`${server.name} is up (pid ${record.pid})`);
  };
  // Each server first waits for those of this call it depends on; the others start together.
  const ready = new Map<ServerName, Promise<void>>();
  const startAfterDependencies = async (server: ManagedServer): Promise<void> => {
    await Promise.resolve(); // every server of the call is in `ready` before any looks for its dependencies
    for (const dependency of server.dependsOn ?? []) {
      await ready.get(dependency)?.catch(() => {
        throw new Error(`${server.name} was not started: ${dependency} did not start`);
      });
    }
    await startOne(server);
  };
  for (const server of servers) ready.set(server.name, startAfterDependencies(server));
  const outcomes = await Promise.allSettled(ready.values());
  const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
  if (failures.length > 0) {
    const messages = failures.map((f) => (f instanceof Error ? f.message : String(f)));
    throw new StackUpError(messages);
  }
  return result;
}

/** Thrown when one or more servers of the stack did not start; lists each with its log. */
export class StackUpError extends StackError {
  readonly code = 'STACK_UP_FAILED';
  constructor(readonly failures: string[]) {
    super(failures.join('\n'));
  }
}

/** Stops every server whose pid file says we started it, and only those. */
export async function stackDown(config: StackConfig, servers: ManagedServer[], report: Reporter, only?: ServerName[]): Promise<void> {
  const pids = new PidFiles(stackFolders(config).run);
  await Promise.all(
    servers
      .filter((server) => !only || only.includes(server.name))
      .map(async (server) => {
        const record = pids.read(server.name);
        if (!record) return;
        pids.write({ ...record, stopRequested: true }); // so that npm start does not restart it
        const how = await stopServer(server, record);
        pids.remove(server.name);
        if (how !== 'not-running') report(`${server.name} ${how} (pid ${record.pid})`);
      }),
  );
}

/**
 * Says of each server whether its process runs and whether it answers a real request. A process
 * whose pid file remains but which is gone is `down`, with its pid, its last exit and whether
 * `npm start` is restarting it.
 */
export async function stackStatus(config: StackConfig, servers: ManagedServer[]): Promise<ServerStatus[]> {
  const pids = new PidFiles(stackFolders(config).run);
  return Promise.all(
    servers.map(async (server): Promise<ServerStatus> => {
      const record: ProcessRecord | undefined = pids.read(server.name);
      const base = {
        name: server.name,
        endpoints: server.endpoints(),
        logPath: server.logPath,
        ...(record?.restarts ? { restarts: record.restarts } : {}),
        ...(record?.lastExit ? { lastExit: record.lastExit } : {}),
      };
      if (!record) return { ...base, state: 'down' };
      if (!isRunning(record)) {
        const supervisor = record.supervisorPid !== undefined && processExists(record.supervisorPid);
        return {
          ...base,
          state: 'down',
          pid: record.pid,
          detail: supervisor ? `exited; npm start (pid ${record.supervisorPid}) is restarting it` : 'exited, and nothing restarts it',
        };
      }
      try {
        await server.probe(record.pid);
        return { ...base, state: 'up', pid: record.pid };
      } catch (err) {
        return { ...base, state: 'not answering', pid: record.pid, detail: (err as Error).message };
      }
    }),
  );
}

/** True when a process with this pid exists. */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
