import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { capture } from '../run-command.ts';
import type { ManagedServer } from './server.ts';

/** Options of {@link createPostgresServer}. */
export interface PostgresServerOptions {
  binDir: string;
  dataDir: string;
  port: number;
  user: string;
  password: string;
  database: string;
  logPath: string;
  /** Run as this user; needed when we are root, since PostgreSQL refuses to run as root. */
  runAs?: { uid: number; gid: number };
  /**
   * `false` turns off fsync for throwaway test clusters, where a crash loses nothing of value.
   * @default true
   */
  durable?: boolean;
  /**
   * The cluster profile's six Temporal processes alone hold about 93 connections.
   * @default 200
   */
  maxConnections?: number;
  /**
   * TLS (the cluster profile): the server certificate and key, and the CA clients verify it with.
   * With it PostgreSQL accepts TCP connections over TLS only (pg_hba: `hostssl`, plain `host` rejected).
   */
  tls?: PostgresTls;
}

/** The server certificate and key of a PostgreSQL with TLS, and the CA that signed it (PEM files). */
export interface PostgresTls {
  cert: string;
  key: string;
  ca: string;
}

/**
 * Client authentication of a PostgreSQL with TLS: any user and database over TLS with a SCRAM
 * password, and a plain TCP connection refused ("no encryption"). There is no Unix socket.
 */
export const postgresTlsHba = ['hostssl all all 127.0.0.1/32 scram-sha-256', 'hostnossl all all all reject', ''].join('\n');

/**
 * Connection string of the application database of a cluster. With `tls`, the client verifies the
 * server's certificate against its CA and name (node-postgres reads `sslmode=verify-full` and
 * `sslrootcert` from the URL, as libpq does).
 */
export function postgresUrl(
  options: Pick<PostgresServerOptions, 'user' | 'password' | 'port' | 'database'> & { tls?: Pick<PostgresTls, 'ca'> | undefined },
): string {
  const url = `postgres://${encodeURIComponent(options.user)}:${encodeURIComponent(options.password)}@127.0.0.1:${options.port}/${encodeURIComponent(options.database)}`;
  return options.tls ? `${url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(options.tls.ca)}` : url;
}

/** A PostgreSQL cluster of its own in `dataDir`, listening on 127.0.0.1 only, with no Unix socket. */
export function createPostgresServer(options: PostgresServerOptions): ManagedServer {
  const connect = async (database: string) => {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: options.port,
      user: options.user,
      password: options.password,
      database,
      connectionTimeoutMillis: 2000,
      ...(options.tls ? { ssl: { ca: readFileSync(options.tls.ca, 'utf8') } } : {}),
    });
    await client.connect();
    return client;
  };
  const owned = (path: string) => {
    if (options.runAs) chownSync(path, options.runAs.uid, options.runAs.gid);
  };
  const initialize = () => {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    owned(options.dataDir);
    const pwFile = join(tmpdir(), `order-saga-pwfile-${randomUUID()}`);
    writeFileSync(pwFile, `${options.password}\n`, { mode: 0o600 });
    owned(pwFile);
    try {
      const initdb = spawnInitdb(options, pwFile);
      if (initdb.status !== 0) throw new Error(`initdb failed (exit ${initdb.status}): ${initdb.output.trim().split('\n').slice(-3).join(' / ')}`);
    } finally {
      rmSync(pwFile, { force: true });
    }
  };

  return {
    name: 'postgres',
    ports: [{ port: options.port, setting: 'POSTGRES_PORT' }],
    logPath: options.logPath,
    // SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
    stopSignal: 'SIGINT',

    prepare() {
      if (!existsSync(join(options.dataDir, 'PG_VERSION'))) initialize();
      if (!options.tls) return;
      // Copied in on every start (a renewed certificate takes effect): the server reads its key
      // only when it owns it and nobody else may read it.
      for (const [from, to] of [
        [options.tls.cert, 'server.crt'],
        [options.tls.key, 'server.key'],
      ] as const) {
        copyFileSync(from, join(options.dataDir, to));
        chmodSync(join(options.dataDir, to), 0o600);
        owned(join(options.dataDir, to));
      }
      writeFileSync(join(options.dataDir, 'pg_hba.conf'), postgresTlsHba);
      owned(join(options.dataDir, 'pg_hba.conf'));
    },

    launchSpec() {
      const settings = [
        'listen_addresses=127.0.0.1',
        `port=${options.port}`,
        'unix_socket_directories=',
        `max_connections=${options.maxConnections ?? 200}`,
        ...(options.durable === false ? ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off'] : []),
        ...(options.tls ? ['ssl=on', 'ssl_cert_file=server.crt', 'ssl_key_file=server.key', 'ssl_min_protocol_version=TLSv1.2'] : []),
      ];
      return {
        command: join(options.binDir, 'postgres'),
        args: ['-D', options.dataDir, ...settings.flatMap((s) => ['-c', s])],
        cwd: options.dataDir,
        ...(options.runAs ?? {}),
      };
    },

    async probe() {
      const client = await connect('postgres');
      try {
        await client.query('select 1');
      } finally {
        await client.end();
      }
    },

    async afterReady() {
      const client = await connect('postgres');
      try {
        const exists = await client.query('select 1 from pg_database where datname = $1', [options.database]);
        if (exists.rowCount === 0) await client.query(`create database ${pg.escapeIdentifier(options.database)}`);
      } finally {
        await client.end();
      }
    },

    endpoints: () => ({ PostgreSQL: `${postgresUrl(options)}${options.tls ? ' (TLS only)' : ''}` }),
  };
}

function spawnInitdb(options: PostgresServerOptions, pwFile: string) {
  const args = ['-D', options.dataDir, '-U', options.user, `--pwfile=${pwFile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale', '--no-instructions'];
  // initdb, like the server, refuses to run as root: with runAs it runs as the postgres user.
  return capture(join(options.binDir, 'initdb'), args, { cwd: options.dataDir, ...(options.runAs ?? {}) });
}
