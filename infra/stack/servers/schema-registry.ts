import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ManagedServer } from './server.ts';

/** Options of {@link createSchemaRegistryServer}. */
export interface SchemaRegistryServerOptions {
  java: string;
  /** The registry's `quarkus-run.jar` (`InstalledTools.schemaRegistryJar`). */
  jar: string;
  port: number;
  /** Its folder: the H2 database file `registry.mv.db` lives there. */
  dataDir: string;
  logPath: string;
  /** JVM heap in MiB. @default 256 */
  heapMb?: number;
}

/** The only variables of the stack's environment the registry's JVM gets. */
const inheritedVariables = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

/** The path of the registry's Confluent-compatible API (Apicurio's `ccompat` v7). */
const ccompatPath = '/apis/ccompat/v7';

/** Where the application reaches the schema registry's Confluent-compatible API. */
export const schemaRegistryUrl = (port: number) => `http://127.0.0.1:${port}${ccompatPath}`;

/**
 * The schema registry of the stack: Apicurio Registry 2.4.2.Final (built by
 * infra/schema-registry/pom.xml), whose Confluent-compatible API the application registers and
 * looks up its message schemas with, bound to 127.0.0.1.
 *
 * Its storage is an H2 database in a file under `dataDir`, so schemas and their ids survive a
 * restart: messages in Kafka carry a schema id for as long as they are kept. The default global
 * rule is BACKWARD compatibility (`registry.rules.global.compatibility`), applied to every
 * subject that has no rule of its own; the ccompat `GET /config` still answers NONE, as it reports
 * stored rules only. Authentication is off (loopback only), and nothing of it reaches outside:
 * no event sink, no Sentry, no tenant manager.
 */
export function createSchemaRegistryServer(options: SchemaRegistryServerOptions): ManagedServer {
  const url = schemaRegistryUrl(options.port);
  return {
    name: 'schema-registry',
    ports: [{ port: options.port, setting: 'SCHEMA_REGISTRY_PORT' }],
    logPath: options.logPath,
    stopSignal: 'SIGTERM',
    prepare: () => {
      mkdirSync(options.dataDir, { recursive: true });
    },
    launchSpec: () => ({
      command: options.java,
      args: [
        '-Xms32m',
        `-Xmx${options.heapMb ?? 256}m`,
        '-XX:+ExitOnOutOfMemoryError',
        '-Dquarkus.http.host=127.0.0.1',
        `-Dquarkus.http.port=${options.port}`,
        // Persistent: an H2 database file (the default is an in-memory one that a restart empties).
        '-Dquarkus.datasource.db-kind=h2',
        // Writers wait up to 10 s for a lock (H2's default, 1 s, failed processes registering side by side).
        `-Dquarkus.datasource.jdbc.url=jdbc:h2:file:${join(options.dataDir, 'registry')};LOCK_TIMEOUT=10000`,
        // A pool for one client, not the 20 to 100 connections the registry opens by default.
        '-Dquarkus.datasource.jdbc.initial-size=1',
        '-Dquarkus.datasource.jdbc.min-size=1',
        '-Dquarkus.datasource.jdbc.max-size=20',
        '-Dregistry.rules.global.compatibility=BACKWARD',
        '-Dregistry.auth.enabled=false',
        '-Dregistry.enable.sentry=false',
        '-Dregistry.enable.multitenancy=false',
        // The transaction manager (Narayana) would otherwise bind a loopback port of its own only to
        // get a process id; a random UUID serves as well, and the HTTP port is the only one it opens.
        '-DCoreEnvironmentBean.processImplementationClassName=com.arjuna.ats.internal.arjuna.utils.UuidProcessId',
        '-jar',
        options.jar,
      ],
      cwd: options.dataDir,
      // Not the stack's environment: the registry reads many variables of its own (KAFKA_BOOTSTRAP_SERVERS
      // sends its events to Kafka, K_SINK to an HTTP sink, REGISTRY_DATASOURCE_URL moves its storage).
      env: Object.fromEntries(inheritedVariables.flatMap((name) => (process.env[name] === undefined ? [] : [[name, process.env[name]]]))),
    }),
    async probe() {
      const response = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2000) });
      if (!response.ok) throw new Error(`${url}/subjects answered HTTP ${response.status}`);
    },
    endpoints: () => ({ 'Schema registry': `http://localhost:${options.port}${ccompatPath} (Confluent-compatible; UI: /ui)` }),
  };
}
