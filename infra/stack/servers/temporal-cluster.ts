import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
// A CommonJS module: Node's ESM loader sees only its default export.
import protos from '@temporalio/proto';
import pg from 'pg';
import { orderSearchAttributes } from '../../../src/domain/search-attributes.ts';
import { runLogged } from '../run-command.ts';
import { waitUntil } from '../wait.ts';
import type { ManagedServer, ServerName } from './server.ts';
import { ensureNamespaceRetention } from './temporal-namespace.ts';

/** Options of {@link createTemporalClusterServers}. */
export interface TemporalClusterOptions {
  /** The Temporal server binary (`go.temporal.io/server/cmd/server`). */
  server: string;
  /** The schema tool (`go.temporal.io/server/cmd/tools/sql`). */
  sqlTool: string;
  /** The Web UI binary (`github.com/temporalio/ui-server/v2/cmd/server`). */
  uiServer: string;
  /** The server configuration template (infra/temporal/cluster.yaml). */
  configTemplate: string;
  /** The dynamic configuration file (infra/temporal/dynamicconfig.yaml). */
  dynamicConfig: string;
  /** Where the Web UI's generated configuration goes. */
  dataDir: string;
  logsDir: string;
  /** Frontend gRPC port, the address clients use. */
  port: number;
  uiPort: number;
  /** First of the ports the services use among themselves (membership, metrics): 10 per process. */
  portBase: number;
  /** The stack's PostgreSQL; with `tlsCa`, reached over TLS only, its certificate verified against that CA (and 127.0.0.1). */
  postgres: { port: number; user: string; password: string; tlsCa?: string };
  /** @default 'default' */
  namespace?: string;
  /** The namespace's workflow execution retention: registered with it, or set at start when it differs. @default 3 days */
  namespaceRetentionMs?: number;
  /** mTLS on the frontend and between the services (the cluster profile); without it every hop is plaintext. */
  tls?: TemporalClusterTls;
  /** Servers of the same start that must answer first (PostgreSQL). */
  dependsOn?: readonly ServerName[];
  /** The Web UI's sign-in and codec endpoint; without it the UI has no login and shows payloads as stored. */
  ui?: TemporalUiSecurity;
}

/**
 * The Web UI behind a login (OpenID Connect, authorization code), passing the signed-in user's
 * access token to a codec endpoint, which decodes payloads for those its token allows.
 */
export interface TemporalUiSecurity {
  /** The identity provider's issuer URL (its `/.well-known/openid-configuration` must answer when the UI starts). */
  issuer: string;
  /** The UI's client at the provider, read when the UI's configuration is written (the provider may make it at its own start). */
  client: () => { clientId: string; clientSecret: string };
  /** The codec server (`<endpoint>/decode`), which the browser calls with the user's access token. */
  codecEndpoint: string;
  /** Servers that must answer before the UI starts (the identity provider: ui-server reads its discovery document at start). */
  dependsOn?: readonly ServerName[];
}

/** Where the identity provider sends a signed-in user back to ui-server. */
export const temporalUiCallbackUrl = (uiPort: number) => `http://localhost:${uiPort}/auth/sso/callback`;

/** A certificate and its private key (PEM files). */
interface CertificateFiles {
  cert: string;
  key: string;
}

/** The certificates of the cluster's mTLS, all signed by `ca`. */
export interface TemporalClusterTls {
  /** The CA every side verifies the other's certificate with. */
  ca: string;
  /** The frontend's server certificate (clients verify it as `localhost`). */
  frontend: CertificateFiles;
  /** The services' certificate among themselves, and the system worker's when it calls the frontend. */
  internode: CertificateFiles;
  /** The clients': the stack's own calls (probe, namespace set-up) and the Web UI server. */
  client: CertificateFiles;
}

/** The name the cluster's certificates are verified as (they name `localhost` and 127.0.0.1). */
export const temporalTlsServerName = 'localhost';

/** Connection settings of a client of the frontend: mTLS with the client certificate when the cluster has TLS. */
export function temporalClientTls(tls: TemporalClusterTls) {
  return {
    serverNameOverride: temporalTlsServerName,
    serverRootCACertificate: readFileSync(tls.ca),
    clientCertPair: { crt: readFileSync(tls.client.cert), key: readFileSync(tls.client.key) },
  };
}

/** The databases of the cluster and the schema of each, as the schema tool names them. */
const databases = [
  { name: 'temporal', schema: 'postgresql/v12/temporal' },
  { name: 'temporal_visibility', schema: 'postgresql/v12/visibility' },
] as const;

/** Ports of the process at `index` (0 is the frontend): gRPC, membership, metrics, HTTP. */
const portsOf = (options: TemporalClusterOptions, index: number) => {
  const base = options.portBase + 10 * index;
  return { grpc: index === 0 ? options.port : base, membership: base + 1, metrics: base + 2, http: base + 3 };
};

/** Resolves once something accepts TCP connections on `port`. */
const tcpProbe = (port: number) => () =>
  new Promise<void>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`no answer on port ${port}`));
    });
    socket.once('error', reject);
  });

/**
 * The cluster profile's Temporal: the real server's frontend, two history, two matching and one
 * worker service, each a process of its own on the stack's PostgreSQL, and the standalone Web UI.
 * The frontend starts first: it creates and migrates the databases (the schema tool), and once it
 * answers registers the namespace and the order saga's search attributes, which the real server
 * does not create; the other services then join it. Starting them all at once on a fresh database
 * made one fail on `cluster_metadata_info_pkey`.
 */
export function createTemporalClusterServers(options: TemporalClusterOptions): ManagedServer[] {
  const namespace = options.namespace ?? 'default';
  const address = `127.0.0.1:${options.port}`;
  const frontendLog = join(options.logsDir, 'temporal-frontend.log');

  const serviceEnv = (index: number): NodeJS.ProcessEnv => {
    const ports = portsOf(options, index);
    return {
      ...process.env,
      TEMPORAL_GRPC_PORT: String(ports.grpc),
      TEMPORAL_MEMBERSHIP_PORT: String(ports.membership),
      TEMPORAL_METRICS_PORT: String(ports.metrics),
      TEMPORAL_HTTP_PORT: String(ports.http),
      TEMPORAL_FRONTEND_ADDRESS: address,
      TEMPORAL_DB_PORT: String(options.postgres.port),
      TEMPORAL_DB_USER: options.postgres.user,
      TEMPORAL_DB_PASSWORD: options.postgres.password,
      TEMPORAL_DB_TLS: String(Boolean(options.postgres.tlsCa)),
      TEMPORAL_DB_TLS_CA_FILE: options.postgres.tlsCa ?? '',
      TEMPORAL_DYNAMIC_CONFIG: options.dynamicConfig,
      ...(options.tls
        ? {
            TEMPORAL_TLS_CA_FILE: options.tls.ca,
            TEMPORAL_TLS_FRONTEND_CERT_FILE: options.tls.frontend.cert,
            TEMPORAL_TLS_FRONTEND_KEY_FILE: options.tls.frontend.key,
            TEMPORAL_TLS_INTERNODE_CERT_FILE: options.tls.internode.cert,
            TEMPORAL_TLS_INTERNODE_KEY_FILE: options.tls.internode.key,
          }
        : {}),
    };
  };

  const service = (name: ServerName, service: 'frontend' | 'history' | 'matching' | 'worker', index: number): ManagedServer => {
    const ports = portsOf(options, index);
    const portSetting = index === 0 ? 'TEMPORAL_PORT' : 'TEMPORAL_CLUSTER_PORT_BASE';
    return {
      name,
      ports: [
        { port: ports.grpc, setting: portSetting },
        { port: ports.membership, setting: 'TEMPORAL_CLUSTER_PORT_BASE' },
        { port: ports.metrics, setting: 'TEMPORAL_CLUSTER_PORT_BASE' },
        ...(service === 'frontend' ? [{ port: ports.http, setting: 'TEMPORAL_CLUSTER_PORT_BASE' }] : []),
      ],
      logPath: join(options.logsDir, `${name}.log`),
      stopSignal: 'SIGTERM',
      dependsOn: ['temporal-frontend'],
      prepare: () => undefined,
      launchSpec: () => ({
        command: options.server,
        args: ['--config-file', options.configTemplate, '--allow-no-auth', 'start', '--service', service],
        env: serviceEnv(index),
      }),
      probe: tcpProbe(ports.grpc),
      endpoints: () => ({ [name]: `127.0.0.1:${ports.grpc} (metrics http://127.0.0.1:${ports.metrics}/metrics)` }),
    };
  };

  const frontend: ManagedServer = {
    ...service('temporal-frontend', 'frontend', 0),
    dependsOn: options.dependsOn ?? [],
    prepare: () => setUpDatabases(options, frontendLog),
    async probe() {
      const connection = await Connection.connect({ address, connectTimeout: 2000, ...(options.tls ? { tls: temporalClientTls(options.tls) } : {}) });
      try {
        await connection.workflowService.getSystemInfo({});
      } finally {
        await connection.close();
      }
    },
    afterReady: () => registerNamespace(address, namespace, options.namespaceRetentionMs ?? 3 * 86_400_000, options.tls),
    endpoints: () => ({ Temporal: `${address} (cluster: frontend, history x2, matching x2, worker${options.tls ? '; mTLS' : ''})` }),
  };

  const uiDir = join(options.dataDir, 'temporal-ui');
  const ui: ManagedServer = {
    name: 'temporal-ui',
    ports: [{ port: options.uiPort, setting: 'TEMPORAL_UI_PORT' }],
    logPath: join(options.logsDir, 'temporal-ui.log'),
    stopSignal: 'SIGTERM',
    dependsOn: ['temporal-frontend', ...(options.ui?.dependsOn ?? [])],
    prepare() {
      // ui-server reads <root>/config/<env>.yaml; the ports come from the stack's settings.
      mkdirSync(join(uiDir, 'config'), { recursive: true, mode: 0o700 });
      const ui = options.ui;
      const client = ui?.client();
      writeFileSync(
        join(uiDir, 'config', 'development.yaml'),
        [
          `temporalGrpcAddress: ${address}`,
          'host: 127.0.0.1',
          `port: ${options.uiPort}`,
          'enableUi: true',
          `defaultNamespace: ${namespace}`,
          'disableNewsFetch: true',
          'cors:',
          '  cookieInsecure: true',
          // The frontend takes clients with a certificate of the stack's CA only.
          ...(options.tls
            ? [
                'tls:',
                `  caFile: ${options.tls.ca}`,
                `  certFile: ${options.tls.client.cert}`,
                `  keyFile: ${options.tls.client.key}`,
                `  serverName: ${temporalTlsServerName}`,
                '  enableHostVerification: true',
              ]
            : []),
          // Sign-in at the identity provider; the browser passes the user's access token to the
          // codec endpoint, which decodes for operators only.
          ...(ui && client
            ? [
                'auth:',
                '  enabled: true',
                '  providers:',
                '    - label: order-saga identity provider',
                '      type: oidc',
                `      providerUrl: ${ui.issuer}`,
                `      clientId: ${client.clientId}`,
                `      clientSecret: ${client.clientSecret}`,
                '      scopes: [openid]',
                `      callbackUrl: ${temporalUiCallbackUrl(options.uiPort)}`,
                'codec:',
                `  endpoint: ${ui.codecEndpoint}`,
                '  passAccessToken: true',
                `  defaultErrorMessage: ${JSON.stringify('The codec endpoint did not decode: it decodes for operators only (sign in as operator), on an API with TEMPORAL_CODEC_ENDPOINT_ENABLED=true.')}`,
              ]
            : []),
          '',
        ].join('\n'),
        // It holds the UI client's secret.
        { mode: 0o600 },
      );
      chmodSync(join(uiDir, 'config', 'development.yaml'), 0o600);
    },
    launchSpec: () => ({ command: options.uiServer, args: ['--root', uiDir, '--config', 'config', '--env', 'development', 'start'] }),
    async probe() {
      const response = await fetch(`http://127.0.0.1:${options.uiPort}/`, { signal: AbortSignal.timeout(2000) });
      if (!response.ok) throw new Error(`the Web UI answered HTTP ${response.status}`);
    },
    endpoints: () => ({ 'Temporal Web UI': `http://localhost:${options.uiPort}${options.ui ? ' (sign in as operator, any password)' : ''}` }),
  };

  return [
    frontend,
    service('temporal-history-1', 'history', 1),
    service('temporal-history-2', 'history', 2),
    service('temporal-matching-1', 'matching', 3),
    service('temporal-matching-2', 'matching', 4),
    service('temporal-internal-worker', 'worker', 5),
    ui,
  ];
}

/**
 * Creates the `temporal` and `temporal_visibility` databases when missing, gives a new one the
 * base schema, and brings both to the schema version of this server (a no-op when current).
 */
async function setUpDatabases(options: TemporalClusterOptions, logPath: string): Promise<void> {
  const { port, user, password, tlsCa } = options.postgres;
  // The schema tool verifies the server's name as well (unless told --tls-disable-host-verification).
  const tls = tlsCa ? ['--tls', '--tls-ca-file', tlsCa] : [];
  const common = ['--ep', '127.0.0.1', '-p', String(port), '-u', user, '--pw', password, '--pl', 'postgres12', ...tls];
  const sql = async (database: string, args: string[]) => {
    const run = await runLogged(options.sqlTool, [...common, '--db', database, ...args], logPath);
    if (run.code !== 0) throw new Error(`the schema tool failed (${run.startError ?? `exit ${run.code}`}) on ${database}: ${args.join(' ')}`);
  };
  const admin = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'postgres', connectionTimeoutMillis: 5000, ...postgresSsl(options) });
  await admin.connect();
  try {
    for (const database of databases) {
      const exists = await admin.query('select 1 from pg_database where datname = $1', [database.name]);
      if (exists.rowCount === 0) await sql(database.name, ['create']);
      if (!(await hasSchemaVersionTable(options, database.name))) await sql(database.name, ['setup-schema', '-v', '0.0']);
      await sql(database.name, ['update-schema', '--schema-name', database.schema]);
    }
  } finally {
    await admin.end();
  }
}

/** node-postgres' TLS settings for the stack's PostgreSQL: the server verified against the CA, none when it is plain. */
const postgresSsl = (options: TemporalClusterOptions) => (options.postgres.tlsCa ? { ssl: { ca: readFileSync(options.postgres.tlsCa, 'utf8') } } : {});

async function hasSchemaVersionTable(options: TemporalClusterOptions, database: string): Promise<boolean> {
  const { port, user, password } = options.postgres;
  const client = new pg.Client({ host: '127.0.0.1', port, user, password, database, connectionTimeoutMillis: 5000, ...postgresSsl(options) });
  await client.connect();
  try {
    const found = await client.query<{ table: string | null }>(`select to_regclass('schema_version')::text as table`);
    return found.rows[0]?.table != null;
  } finally {
    await client.end();
  }
}

const { IndexedValueType } = protos.temporal.api.enums.v1;

/** The Temporal type of each kind of search attribute this project uses. */
const indexedValueTypes: Record<(typeof orderSearchAttributes)[keyof typeof orderSearchAttributes], protos.temporal.api.enums.v1.IndexedValueType> = {
  Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Int: IndexedValueType.INDEXED_VALUE_TYPE_INT,
};

/**
 * Registers `namespace` and the order saga's search attributes (src/domain/search-attributes.ts)
 * unless they exist: the real server, unlike the dev server, creates neither; and makes the
 * namespace's retention `retentionMs`. Safe to repeat.
 */
async function registerNamespace(address: string, namespace: string, retentionMs: number, tls: TemporalClusterTls | undefined): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: 5000, ...(tls ? { tls: temporalClientTls(tls) } : {}) });
  try {
    const known = await connection.workflowService.describeNamespace({ namespace }).then(
      () => true,
      () => false,
    );
    if (!known) {
      await connection.workflowService
        .registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(retentionMs) })
        .catch((err: { code?: number }) => {
          if (err.code !== 6) throw err; // ALREADY_EXISTS: another start registered it meanwhile
        });
    }
    // A namespace registered by an earlier start (or another one meanwhile) takes this start's retention.
    await ensureNamespaceRetention(connection, namespace, retentionMs);
    // The frontend learns of a new namespace on its next cache refresh (2 s): until then the
    // search attribute call answers NOT_FOUND, so it is retried.
    const result = await waitUntil(
      async () => {
        const existing = await connection.operatorService.listSearchAttributes({ namespace });
        const missing = Object.entries(orderSearchAttributes).filter(([name]) => !(name in (existing.customAttributes ?? {})));
        if (missing.length === 0) return;
        await connection.operatorService.addSearchAttributes({
          namespace,
          searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, indexedValueTypes[type]])),
        });
        throw new Error(`added ${missing.map(([name]) => name).join(', ')}; checking again`);
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    if (!result.ready) throw new Error(`registering the search attributes of ${namespace}: ${result.reason}`);
  } finally {
    await connection.close();
  }
}
