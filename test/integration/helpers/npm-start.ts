/**
 * `npm start` run as a person runs it, on free ports and a throwaway data folder: the tests that
 * use the whole system (npm-start, fault-tolerance) start and stop it through this.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStackConfig, type StackConfig } from '../../../infra/stack/config.ts';
import { projectRoot } from '../../../infra/stack/paths.ts';
import { freePort } from '../../../infra/stack/ports.ts';
import { freeKafkaClusterPorts, kafkaClusterPortStep } from '../../../infra/stack/servers/kafka.ts';
import { PidFiles, isRunning, type ProcessRecord } from '../../../infra/stack/process.ts';
import { appServices, identityClientsFileOf, stackFolders } from '../../../infra/stack/stack.ts';
import { AccessTokens } from '../../../src/platform/access-tokens.ts';
import { eventually } from './choreography-scenarios.ts';

/** The servers of the stack, by name. */
export const serverNames = ['postgres', 'kafka', 'temporal', 'zipkin', 'schema-registry', 'identity-provider', 'smtp-sink'];

const portSettings = [
  'TEMPORAL_PORT',
  'TEMPORAL_UI_PORT',
  'KAFKA_PORT',
  'KAFKA_CONTROLLER_PORT',
  'POSTGRES_PORT',
  'SMTP_SINK_PORT',
  'SMTP_SINK_HTTP_PORT',
  'GATEWAY_PORT',
  'IDENTITY_PORT',
  'API_PORT',
  'WORKER_METRICS_PORT',
  'TEMPORAL_SDK_METRICS_PORT',
  'CHOREOGRAPHY_METRICS_PORT',
  'PROJECTOR_METRICS_PORT',
  'ZIPKIN_PORT',
  'SCHEMA_REGISTRY_PORT',
  // The cluster profile's: the first API's HTTPS listener and the second instances (unused by the dev profile).
  'API_TLS_PORT',
  'API_PORT_2',
  'WORKER_METRICS_PORT_2',
  'TEMPORAL_SDK_METRICS_PORT_2',
  'CHOREOGRAPHY_METRICS_PORT_2',
  'PROJECTOR_METRICS_PORT_2',
];

/**
 * KAFKA_PORT and KAFKA_CONTROLLER_PORT for the cluster profile, whose second and third nodes listen
 * on those plus 100 and 200: all six free now, and none of `taken` (picked free a moment ago, so
 * no longer checkable by binding). A single free port for KAFKA_PORT once left node 3 on a port
 * in use (a fresh-clone CI run: "Socket server failed to bind").
 */
async function kafkaClusterPortsApartFrom(taken: number[]): Promise<{ KAFKA_PORT: string; KAFKA_CONTROLLER_PORT: string }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const { port, controllerPort } = await freeKafkaClusterPorts();
    const nodes = [0, 1, 2].flatMap((n) => [port + kafkaClusterPortStep * n, controllerPort + kafkaClusterPortStep * n]);
    if (!nodes.some((p) => taken.includes(p))) return { KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(controllerPort) };
  }
  throw new Error('no Kafka cluster ports apart from the ports already picked');
}

/** A running `npm start`. */
export interface StartedSystem {
  env: Record<string, string>;
  config: StackConfig;
  /** Base URL of the API. */
  api: string;
  /** Tokens for the API from the system's own identity provider (the clients file it wrote under its STACK_DATA_DIR). */
  tokens: AccessTokens;
  pids: PidFiles;
  /** Everything npm start printed so far. */
  output: () => string;
  /** The pid records of every process it started. */
  started: () => ProcessRecord[];
  /**
   * Stops it: `ctrl-c` as a terminal does (SIGINT to the whole group, twice: terminal plus npm),
   * or `sigint` to the npm process alone, as a process manager does. Kills what is left after
   * 90 s. Returns how it ended and the processes that were left running.
   */
  stop: (how?: 'ctrl-c' | 'sigint') => Promise<{ how: unknown; leftOver: string[] }>;
}

/** Starts `npm start` (the npm script itself) in its own process group and waits until it reports the system up. */
export async function startSystem(extraEnv: Record<string, string> = {}): Promise<StartedSystem> {
  const dataDir = mkdtempSync(join(tmpdir(), 'order-saga-start-'));
  chmodSync(dataDir, 0o755); // PostgreSQL runs as `postgres` when we are root
  const env: Record<string, string> = { STACK_DATA_DIR: dataDir, KAFKA_HEAP_MB: '384', ...extraEnv };
  for (const setting of portSettings) env[setting] = String(await freePort());
  if (env.STACK_PROFILE === 'cluster') Object.assign(env, await kafkaClusterPortsApartFrom(portSettings.map((setting) => Number(env[setting]))));
  const config = loadStackConfig(env);

  let output = '';
  // Its own process group, as a terminal gives it, so a signal can go to every process at once.
  const child = spawn('npm', ['start'], { cwd: projectRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  const pids = new PidFiles(stackFolders(config).run);
  const started = () =>
    [...serverNames, ...appServices(config).map((s) => s.name)].map((name) => pids.read(name)).filter((r): r is ProcessRecord => r !== undefined);

  const stop = async (how: 'ctrl-c' | 'sigint' = 'ctrl-c') => {
    const records = started();
    if (child.exitCode === null && how === 'ctrl-c') {
      process.kill(-child.pid!, 'SIGINT');
      setTimeout(() => child.exitCode === null && process.kill(-child.pid!, 'SIGINT'), 200);
    }
    if (child.exitCode === null && how === 'sigint') process.kill(child.pid!, 'SIGINT');
    const ended = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running after 90 s'), 90_000))]);
    // Read again: a process restarted meanwhile has a new pid.
    const leftOver = [...records, ...started()].filter(isRunning);
    for (const record of leftOver) {
      try {
        process.kill(record.pid, 'SIGKILL');
      } catch (err) {
        // It ended between the look and the kill: nothing left to stop.
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
    if (!process.env.ORDER_SAGA_KEEP_TEST_DATA) rmSync(dataDir, { recursive: true, force: true });
    return { how: ended, leftOver: [...new Set(leftOver.map((r) => r.name))] };
  };

  try {
    await eventually(
      'the system to be up',
      () => {
        if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${output}`);
        return Promise.resolve(output.includes('the system is up'));
      },
      180_000,
    );
  } catch (err) {
    // The data folder goes with stop(): keep the end of each log npm start named as failing.
    const failedLogs = [...output.matchAll(/did not start.*log: (\S+\.log)/g)].map((m) => m[1]!);
    const tails = failedLogs.map(
      (path) => `--- end of ${path}:\n${existsSync(path) ? readFileSync(path, 'utf8').split('\n').slice(-15).join('\n') : '(missing)'}`,
    );
    await stop();
    if (tails.length > 0 && err instanceof Error) err.message += `\n${tails.join('\n')}`;
    throw err;
  }
  let tokens: AccessTokens;
  try {
    // Written by the identity provider as it started, before the system was up.
    tokens = AccessTokens.fromFile(identityClientsFileOf(config));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    env,
    config,
    api: `http://127.0.0.1:${env.API_PORT}`,
    tokens,
    pids,
    output: () => output,
    started,
    stop,
  };
}
