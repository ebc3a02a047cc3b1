/**
 * A PostgreSQL of a test's own, on a free port and a temporary folder, for tests that stop and
 * start their database (the suite's shared servers must stay up for the other tests).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStackConfig } from '../../../infra/stack/config.ts';
import { locateTools } from '../../../infra/stack/install.ts';
import { freePort } from '../../../infra/stack/ports.ts';
import { postgresUser } from '../../../infra/stack/prerequisites.ts';
import type { ProcessRecord } from '../../../infra/stack/process.ts';
import { createPostgresServer, postgresUrl } from '../../../infra/stack/servers/postgres.ts';
import { startServer, stopServer } from '../../../infra/stack/start-server.ts';

/** A running PostgreSQL of the test's own. */
export interface OwnPostgres {
  /** Its connection URL (user and password `order_saga`). */
  url: string;
  /** Stops it (fast shutdown, as a restart begins). */
  stop: () => Promise<void>;
  /** Starts it again on the same port and data, and waits until it answers. */
  start: () => Promise<void>;
  /** Stops it if it runs and deletes its folder. */
  close: () => Promise<void>;
}

/** Starts a throwaway PostgreSQL holding the database `database`. */
export async function startOwnPostgres(database: string): Promise<OwnPostgres> {
  const root = mkdtempSync(join(tmpdir(), `order-saga-${database}-`));
  // PostgreSQL runs as `postgres` when we are root, and must be able to enter the folder.
  chmodSync(root, 0o755);
  const runAs = process.getuid?.() === 0 ? postgresUser() : undefined;
  const settings = { user: 'order_saga', password: 'order_saga', database, port: await freePort() };
  const server = createPostgresServer({
    ...settings,
    binDir: locateTools(loadStackConfig().STACK_TOOLS_DIR).postgresBinDir,
    dataDir: join(root, 'postgres'),
    logPath: join(root, 'postgres.log'),
    durable: false,
    ...(runAs ? { runAs } : {}),
  });
  let record: ProcessRecord | undefined = await startServer(server, 120_000);
  const stop = async () => {
    if (record) await stopServer(server, record, 15_000);
    record = undefined;
  };
  return {
    url: postgresUrl(settings),
    stop,
    start: async () => {
      record = await startServer(server, 120_000);
    },
    close: async () => {
      await stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
