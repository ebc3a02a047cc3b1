import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { orderSearchAttributes } from '../../../src/domain/search-attributes.ts';
import type { ManagedServer } from './server.ts';
import { ensureNamespaceRetention, temporalRetentionDynamicConfig } from './temporal-namespace.ts';

/** Options of {@link createTemporalServer}. */
export interface TemporalServerOptions {
  temporal: string;
  port: number;
  /** Web UI port; omitted runs the server headless (tests). */
  uiPort?: number;
  /** SQLite file that keeps workflows across restarts; omitted keeps them in memory (tests). */
  dbFile?: string;
  logPath: string;
  /** @default 'default' */
  namespace?: string;
  /** The codec server the Web UI decodes payloads through (`--ui-codec-endpoint`), e.g. the API's `/codec`. */
  uiCodecEndpoint?: string;
  /**
   * The namespace's workflow execution retention, set at every start (the dev server registers it
   * with 1 day, and has no flag for it). Omitted leaves it as it is.
   */
  namespaceRetentionMs?: number;
}

/** The Temporal CLI dev server: frontend, history, matching and the Web UI in one process. */
export function createTemporalServer(options: TemporalServerOptions): ManagedServer {
  const namespace = options.namespace ?? 'default';
  const address = `127.0.0.1:${options.port}`;
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--namespace',
    namespace,
    '--log-format',
    'json',
    '--log-level',
    'warn',
    ...Object.entries(orderSearchAttributes).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
    // Values are JSON: a duration is a quoted string.
    ...Object.entries(temporalRetentionDynamicConfig).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${JSON.stringify(value)}`]),
    ...(options.uiPort === undefined ? ['--headless'] : ['--ui-port', String(options.uiPort), '--ui-disable-news-fetch']),
    ...(options.uiPort === undefined || options.uiCodecEndpoint === undefined ? [] : ['--ui-codec-endpoint', options.uiCodecEndpoint]),
    // WAL lets readers (the UI, queries) run beside the writer instead of queueing behind it.
    ...(options.dbFile === undefined ? [] : ['--db-filename', options.dbFile, '--sqlite-pragma', 'journal_mode=wal']),
  ];

  return {
    name: 'temporal',
    ports: [{ port: options.port, setting: 'TEMPORAL_PORT' }, ...(options.uiPort === undefined ? [] : [{ port: options.uiPort, setting: 'TEMPORAL_UI_PORT' }])],
    logPath: options.logPath,
    stopSignal: 'SIGTERM',

    prepare() {
      if (options.dbFile) mkdirSync(dirname(options.dbFile), { recursive: true });
    },

    launchSpec: () => ({ command: options.temporal, args }),

    async probe() {
      const connection = await Connection.connect({ address, connectTimeout: 2000 });
      try {
        await connection.workflowService.describeNamespace({ namespace });
      } finally {
        await connection.close();
      }
      if (options.uiPort !== undefined) {
        const response = await fetch(`http://127.0.0.1:${options.uiPort}/`, { signal: AbortSignal.timeout(2000) });
        if (!response.ok) throw new Error(`the Web UI answered HTTP ${response.status}`);
      }
    },

    async afterReady() {
      if (options.namespaceRetentionMs === undefined) return;
      const connection = await Connection.connect({ address, connectTimeout: 5000 });
      try {
        await ensureNamespaceRetention(connection, namespace, options.namespaceRetentionMs);
      } finally {
        await connection.close();
      }
    },

    endpoints: () => ({
      Temporal: address,
      ...(options.uiPort === undefined ? {} : { 'Temporal Web UI': `http://localhost:${options.uiPort}` }),
    }),
  };
}
