import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

const srcDir = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * The PostgreSQL schemas of the project, each with its own migrations folder: one per context,
 * `messaging` (outbox, processed events) for the choreographed flow, and `read_model`.
 */
export const schemaMigrations: Record<string, string> = {
  orders: join(srcDir, 'contexts', 'orders', 'migrations'),
  inventory: join(srcDir, 'contexts', 'inventory', 'migrations'),
  payments: join(srcDir, 'contexts', 'payments', 'migrations'),
  notifications: join(srcDir, 'contexts', 'notifications', 'migrations'),
  customers: join(srcDir, 'contexts', 'customers', 'migrations'),
  messaging: join(srcDir, 'messaging', 'migrations'),
  read_model: join(srcDir, 'projections', 'migrations'),
  api: join(srcDir, 'api', 'migrations'),
};

/**
 * Applies the pending SQL migrations of each context to its own schema (with its own migrations
 * table), creating the schema first. Safe to run from several processes: node-pg-migrate holds an
 * advisory lock while it works.
 */
export async function migrateAll(
  databaseUrl: string,
  schemas: readonly string[] = Object.keys(schemaMigrations),
  log: (msg: string) => void = () => undefined,
): Promise<void> {
  for (const schema of schemas) {
    await runner({
      databaseUrl,
      dir: schemaMigrations[schema]!,
      schema,
      createSchema: true,
      migrationsTable: 'pgmigrations',
      direction: 'up',
      checkOrder: true,
      advisoryLockMode: 'wait',
      logger: { debug: () => undefined, info: log, warn: log, error: log },
    });
  }
}
