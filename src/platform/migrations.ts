import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

const contextsDir = join(dirname(dirname(fileURLToPath(import.meta.url))), 'contexts');

/** The contexts whose schemas this process migrates; each owns one PostgreSQL schema. */
export const contextSchemas = ['orders', 'inventory', 'payments', 'notifications'] as const;

/** A PostgreSQL schema owned by one context. */
export type ContextSchema = (typeof contextSchemas)[number];

/**
 * Applies the pending SQL migrations of each context to its own schema (with its own migrations
 * table), creating the schema first. Safe to run from several processes: node-pg-migrate holds an
 * advisory lock while it works.
 */
export async function migrateAll(databaseUrl: string, schemas: readonly string[] = contextSchemas, log: (msg: string) => void = () => undefined): Promise<void> {
  for (const schema of schemas) {
    await runner({
      databaseUrl,
      dir: join(contextsDir, schema, 'migrations'),
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
