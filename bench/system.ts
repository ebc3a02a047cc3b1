import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { StackConfig } from '../infra/stack/config.ts';
import { projectRoot } from '../infra/stack/paths.ts';
import { httpProbe } from '../infra/stack/servers/node-service.ts';
import { PidFiles, isRunning } from '../infra/stack/process.ts';
import { Kafka, logLevel } from 'kafkajs';
import { locateTools } from '../infra/stack/install.ts';
import { appServices, databaseUrlOf, kafkaClientSecurityOf, stackFolders, stackServers } from '../infra/stack/stack.ts';
import { waitUntil } from '../infra/stack/wait.ts';
import { AccessTokens, stackClientsFile } from '../src/platform/access-tokens.ts';
import { createPool } from '../src/platform/database.ts';
import type { SystemUnderTest } from './flow-run.ts';

/**
 * The tokens the benchmark sends to the API of `config`'s stack: client credentials from the clients
 * file its identity provider wrote as it started (IDENTITY_CLIENTS_FILE, else the one under the
 * stack's STACK_DATA_DIR). Read once the system is up, as the provider writes the file as it starts.
 */
export const benchTokens = (config: Pick<StackConfig, 'STACK_DATA_DIR'>): AccessTokens =>
  AccessTokens.fromFile(stackClientsFile({ ...process.env, STACK_DATA_DIR: config.STACK_DATA_DIR }));

/**
 * The benchmark's handles on the system of `config`: its API and gateway, tokens for the API, a
 * pool of 16, a Kafka client and its admin (not connected yet), and the pid of every process of
 * the profile (the cluster's Temporal services and Kafka nodes too), read afresh at each call.
 */
export function systemUnderTest(config: StackConfig, clientId: string): SystemUnderTest & { kafka: Kafka; processNames: string[] } {
  const pool = createPool(databaseUrlOf(config), 16);
  const kafka = new Kafka({ clientId, brokers: [`127.0.0.1:${config.KAFKA_PORT}`], logLevel: logLevel.NOTHING, ...kafkaClientSecurityOf(config) });
  const pidFiles = new PidFiles(stackFolders(config).run);
  const processNames = [...stackServers(config, locateTools(config.STACK_TOOLS_DIR)), ...appServices(config)].map((s) => s.name);
  return {
    apiUrl: `http://127.0.0.1:${config.API_PORT}`,
    tokens: benchTokens(config),
    gatewayUrl: `http://127.0.0.1:${config.GATEWAY_PORT}`,
    pool,
    kafka,
    admin: kafka.admin(),
    processNames,
    pids: () => Object.fromEntries(processNames.map((name) => [name, pidFiles.read(name)?.pid])),
  };
}

/**
 * The application processes of `config`'s profile that have no live process in the stack's run
 * folder: a running system missing any of them was started with the other profile (or is partly
 * down), and measuring it would be measuring something else than asked.
 */
export function missingProcesses(config: StackConfig): string[] {
  const pids = new PidFiles(stackFolders(config).run);
  return appServices(config)
    .map((s) => s.name)
    .filter((name) => {
      const record = pids.read(name);
      return record === undefined || !isRunning(record);
    });
}

/**
 * The system the benchmark drives: the one `npm start` runs, if it answers and runs every process
 * of the asked profile; otherwise the benchmark starts it the same way (`infra/stack/cli.ts start
 * --profile <profile>`, log in .data/logs/bench-start.log) and stops it with Ctrl-C's signal when done.
 */
export async function ensureSystem(
  config: StackConfig,
  say: (line: string) => void,
  /**
   * `env`: more environment for the system it starts (e.g. STACK_CPU_PROFILE_DIR); not used on a running system.
   * `refuseRunning`: why the caller needs a system of its own (its `env` must reach every process):
   * then a running system (its API answers, or any application process of the profile is alive) is an error, not used.
   */
  options: { env?: Record<string, string>; refuseRunning?: string } = {},
): Promise<{ startedHere: boolean; tracing: string; stop(): Promise<void> }> {
  const readyz = `http://127.0.0.1:${config.API_PORT}/readyz`;
  const answers = (await waitUntil(httpProbe(readyz), { timeoutMs: 0 })).ready;
  if (options.refuseRunning !== undefined) {
    const alive = appServices(config)
      .map((s) => s.name)
      .filter((name) => !missingProcesses(config).includes(name));
    if (answers || alive.length > 0)
      throw new Error(
        `${options.refuseRunning}, so it must start the system itself, but one is running (${answers ? `${readyz} answers` : `${alive.join(', ')} alive`}): stop it (Ctrl-C on its npm start), or give the soak a STACK_DATA_DIR and ports of its own`,
      );
  }
  if (answers) {
    const missing = missingProcesses(config);
    if (missing.length > 0)
      throw new Error(
        `a system answers ${readyz}, but it does not run ${missing.join(', ')} of the ${config.STACK_PROFILE} profile: stop it (Ctrl-C on its npm start) or pass the --profile it was started with`,
      );
    say(`using the running system (${config.STACK_PROFILE} profile; ${readyz} answers)`);
    return { startedHere: false, tracing: 'as the running system was started', stop: () => Promise.resolve() };
  }
  const logs = stackFolders(config).logs;
  mkdirSync(logs, { recursive: true });
  const logPath = join(logs, 'bench-start.log');
  say(`starting the system (npm start -- --profile ${config.STACK_PROFILE}; log: ${logPath}) ...`);
  const logStart = existsSync(logPath) ? statSync(logPath).size : 0;
  const log = openSync(logPath, 'a');
  // Tracing off unless the caller configured it: every span of every order costs the services
  // CPU (README "The benchmark" has the figures); set OTEL_* to measure with it.
  const otel = Object.entries(process.env).filter(([name]) => name.startsWith('OTEL_'));
  const env = { ...(otel.length > 0 ? process.env : { ...process.env, OTEL_SDK_DISABLED: 'true' }), ...options.env };
  const child = spawn(process.execPath, ['--import', 'tsx', 'infra/stack/cli.ts', 'start', '--profile', config.STACK_PROFILE], {
    cwd: projectRoot,
    env,
    stdio: ['ignore', log, log],
    detached: true,
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Up when npm start says so (every service started), not only when the API answers.
  const systemUp = async () => {
    if (!readFileSync(logPath).subarray(logStart).toString().includes('the system is up')) throw new Error('npm start has not reported the system up yet');
    await httpProbe(readyz)();
  };
  const started = await waitUntil(systemUp, {
    timeoutMs: 600_000,
    intervalMs: 500,
    abortReason: () => (child.exitCode === null ? undefined : `it exited with code ${child.exitCode}`),
  });
  if (!started.ready) throw new Error(`the system did not answer ${readyz}: ${started.reason}; see ${logPath}`);
  // Ctrl-C on the benchmark stops the system it started too (it runs in its own process group).
  const stopOnSignal = (signal: NodeJS.Signals) => {
    say(`${signal}: stopping the system it started ...`);
    process.kill(-child.pid!, 'SIGINT');
    void exited.then(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  return {
    startedHere: true,
    tracing:
      otel.length > 0
        ? `configured by the caller: ${otel.map(([name, value]) => `${name}=${value}`).join(' ')}`
        : 'off (OTEL_SDK_DISABLED=true, set by the benchmark)',
    async stop() {
      process.off('SIGINT', stopOnSignal);
      process.off('SIGTERM', stopOnSignal);
      process.kill(-child.pid!, 'SIGINT');
      await exited;
    },
  };
}
