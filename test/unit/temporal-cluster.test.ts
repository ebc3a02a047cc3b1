import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { PrerequisiteMissingError, StackConfigError } from '../../infra/stack/errors.ts';
import { installClusterTools } from '../../infra/stack/install.ts';
import { installInputs } from '../../infra/stack/paths.ts';
import { checkOpenssl } from '../../infra/stack/prerequisites.ts';
import { isRunning, PidFiles } from '../../infra/stack/process.ts';
import type { ManagedServer, ServerName } from '../../infra/stack/servers/server.ts';
import { createTemporalClusterServers } from '../../infra/stack/servers/temporal-cluster.ts';
import { stackDown, stackFolders, stackUp } from '../../infra/stack/stack.ts';
import { pretendStarted, serverNamesInUse } from '../fixtures/stand-in-tools.ts';

const dir = mkdtempSync(join(tmpdir(), 'order-saga-cluster-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const clusterOptions = {
  server: 'server',
  sqlTool: 'sql',
  uiServer: 'ui-server',
  configTemplate: installInputs.temporalClusterConfig,
  dynamicConfig: installInputs.temporalDynamicConfig,
  dataDir: '/nonexistent/order-saga',
  logsDir: '/nonexistent/order-saga/logs',
  port: 7233,
  uiPort: 8233,
  portBase: 7300,
  postgres: { port: 5433, user: 'order_saga', password: 'order_saga' },
  dependsOn: ['postgres'] as const,
};
const servers = createTemporalClusterServers(clusterOptions);

describe('the cluster profile', () => {
  it('is chosen with STACK_PROFILE=cluster; dev stays the default and anything else is refused', () => {
    expect(loadStackConfig({}).STACK_PROFILE).toBe('dev');
    expect(loadStackConfig({ STACK_PROFILE: 'cluster' }).STACK_PROFILE).toBe('cluster');
    expect(() => loadStackConfig({ STACK_PROFILE: 'kubernetes' })).toThrow(StackConfigError);
  });

  it('refuses service ports above 32767, which Temporal cannot store (its membership table keeps them as smallint)', () => {
    expect(loadStackConfig({ TEMPORAL_CLUSTER_PORT_BASE: '32707' }).TEMPORAL_CLUSTER_PORT_BASE).toBe(32707);
    expect(() => loadStackConfig({ TEMPORAL_CLUSTER_PORT_BASE: '41300' })).toThrow(/TEMPORAL_CLUSTER_PORT_BASE/);
  });

  it('runs the frontend, two history, two matching and one worker service, each a process, and the Web UI', () => {
    expect(servers.map((s) => [s.name, s.launchSpec().args.at(-1)])).toEqual([
      ['temporal-frontend', 'frontend'],
      ['temporal-history-1', 'history'],
      ['temporal-history-2', 'history'],
      ['temporal-matching-1', 'matching'],
      ['temporal-matching-2', 'matching'],
      ['temporal-internal-worker', 'worker'],
      ['temporal-ui', 'start'],
    ]);
  });

  it('starts the frontend once PostgreSQL answers, and the other services once the frontend does', () => {
    expect(Object.fromEntries(servers.map((s) => [s.name, s.dependsOn]))).toEqual({
      'temporal-frontend': ['postgres'],
      'temporal-history-1': ['temporal-frontend'],
      'temporal-history-2': ['temporal-frontend'],
      'temporal-matching-1': ['temporal-frontend'],
      'temporal-matching-2': ['temporal-frontend'],
      'temporal-internal-worker': ['temporal-frontend'],
      'temporal-ui': ['temporal-frontend'],
    });
  });

  it("signs the Web UI's users in at the identity provider and passes their token to an HTTPS codec endpoint; the file holding the client secret is the owner's", async () => {
    const [ui] = createTemporalClusterServers({
      ...clusterOptions,
      dataDir: dir,
      logsDir: join(dir, 'logs'),
      ui: {
        issuer: 'http://127.0.0.1:3200',
        client: () => ({ clientId: 'order-saga-temporal-ui', clientSecret: 's3cret' }),
        codecEndpoint: 'https://localhost:3443/codec',
        dependsOn: ['identity-provider'],
      },
    }).filter((s) => s.name === 'temporal-ui');
    expect(ui!.dependsOn).toEqual(['temporal-frontend', 'identity-provider']);
    await ui!.prepare();
    const file = join(dir, 'temporal-ui', 'config', 'development.yaml');
    const yaml = readFileSync(file, 'utf8');
    for (const line of [
      'auth:\n  enabled: true',
      'providerUrl: http://127.0.0.1:3200',
      'clientId: order-saga-temporal-ui',
      'clientSecret: s3cret',
      'callbackUrl: http://localhost:8233/auth/sso/callback',
      'codec:\n  endpoint: https://localhost:3443/codec\n  passAccessToken: true',
    ])
      expect(yaml).toContain(line);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('gives every process ports of its own, the frontend on the dev profile’s 7233 and the Web UI on 8233', () => {
    const ports = servers.flatMap((s) => s.ports.map((p) => p.port));
    expect(new Set(ports).size).toBe(ports.length);
    expect(servers[0]?.ports[0]?.port).toBe(7233);
    expect(servers.at(-1)?.ports).toEqual([{ port: 8233, setting: 'TEMPORAL_UI_PORT' }]);
    const env = servers.slice(0, 6).map((s) => s.launchSpec().env ?? {});
    expect(new Set(env.map((e) => e.TEMPORAL_METRICS_PORT)).size).toBe(6);
    expect(new Set(env.map((e) => e.TEMPORAL_MEMBERSHIP_PORT)).size).toBe(6);
    expect(env.every((e) => e.TEMPORAL_FRONTEND_ADDRESS === '127.0.0.1:7233' && e.TEMPORAL_DB_PORT === '5433')).toBe(true);
  });
});

describe('starting servers that depend on others', () => {
  const config = loadStackConfig({ STACK_DATA_DIR: dir });
  /** A process that runs until stopped, ready after `readyAfter` probes (never when `fails`). */
  const fake = (name: ServerName, log: string[], options: { dependsOn?: ServerName[]; readyAfter?: number; fails?: boolean } = {}): ManagedServer => {
    let probes = 0;
    return {
      name,
      ports: [],
      logPath: join(dir, `${name}.log`),
      stopSignal: 'SIGTERM',
      ...(options.dependsOn ? { dependsOn: options.dependsOn } : {}),
      prepare: () => void log.push(`${name} starts`),
      launchSpec: () => ({ command: options.fails ? '/bin/false' : '/bin/sleep', args: ['60'] }),
      probe: () => {
        if (options.fails || ++probes <= (options.readyAfter ?? 0)) return Promise.reject(new Error('not yet'));
        log.push(`${name} answers`);
        return Promise.resolve();
      },
      endpoints: () => ({}),
    };
  };

  it('starts a server only once those it depends on answer; the others start together', async () => {
    const log: string[] = [];
    const servers = [
      fake('temporal-ui', log, { dependsOn: ['temporal-frontend'] }),
      fake('temporal-frontend', log, { dependsOn: ['postgres'] }),
      fake('postgres', log, { readyAfter: 3 }),
      fake('kafka', log),
    ];
    try {
      await stackUp(config, servers, () => undefined);
      expect(log.indexOf('postgres answers')).toBeLessThan(log.indexOf('temporal-frontend starts'));
      expect(log.indexOf('temporal-frontend answers')).toBeLessThan(log.indexOf('temporal-ui starts'));
      expect(log.indexOf('kafka answers')).toBeLessThan(log.indexOf('postgres answers'));
    } finally {
      await stackDown(config, servers, () => undefined);
    }
  });

  it('does not start a server whose dependency failed, and says why', async () => {
    const log: string[] = [];
    const servers = [fake('postgres', log, { fails: true }), fake('temporal-frontend', log, { dependsOn: ['postgres'] })];
    await expect(stackUp(config, servers, () => undefined)).rejects.toThrow('temporal-frontend was not started: postgres did not start');
    expect(log).not.toContain('temporal-frontend starts');
    const record = new PidFiles(stackFolders(config).run).read('temporal-frontend');
    expect(record && isRunning(record)).toBeFalsy();
  });
});

describe('installing the cluster profile', () => {
  it('names OpenSSL and its Debian package when it is missing (it makes the TLS certificates)', () => {
    const path = process.env.PATH;
    process.env.PATH = join(dir, 'empty');
    try {
      expect(() => checkOpenssl()).toThrow(PrerequisiteMissingError);
      expect(() => checkOpenssl()).toThrow(/OpenSSL \(openssl\).*apt-get install openssl/);
    } finally {
      process.env.PATH = path;
    }
    expect(() => checkOpenssl()).not.toThrow();
  });

  it('names Go when it is missing', async () => {
    const path = process.env.PATH;
    process.env.PATH = join(dir, 'empty');
    try {
      await expect(installClusterTools(join(dir, 'tools'))).rejects.toThrow(PrerequisiteMissingError);
      await expect(installClusterTools(join(dir, 'tools'))).rejects.toThrow(/Go \(go\).*install Go 1\.26\.8/);
    } finally {
      process.env.PATH = path;
    }
  });
});

describe('stack:down and stack:status without the profile flag', () => {
  it('still see the Temporal processes the other profile started, and only those that have a pid file', () => {
    const dataDir = mkdtempSync(join(dir, 'in-use-'));
    expect(serverNamesInUse(dataDir, 'dev')).not.toContain('temporal-frontend');
    pretendStarted(dataDir, 'temporal-frontend');
    expect(serverNamesInUse(dataDir, 'dev')).toEqual([
      'postgres',
      'kafka',
      'temporal',
      'zipkin',
      'schema-registry',
      'identity-provider',
      'smtp-sink',
      'temporal-frontend',
    ]);
    pretendStarted(dataDir, 'temporal');
    expect(serverNamesInUse(dataDir, 'cluster')).toContain('temporal');
  });
});
