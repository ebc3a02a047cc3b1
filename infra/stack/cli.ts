/**
 * The local stack's command line: `tsx infra/stack/cli.ts <command>`, behind the npm scripts
 * `stack:install`, `stack:up`, `stack:down`, `stack:status`, `stack:logs` and `start`.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { loadStackConfig, type StackConfig } from './config.ts';
import { StackError } from './errors.ts';
import { installClusterTools, installTestTools, installTools, locateTools } from './install.ts';
import type { ServerName } from './servers/server.ts';
import { PidFiles } from './process.ts';
import { appServices, appServicesInUse, stackDown, stackFolders, stackServers, stackServersInUse, stackStatus, stackUp } from './stack.ts';
import { tailOf } from './start-server.ts';
import { Supervisor } from './supervisor.ts';

const say = (line: string) => console.log(`[stack] ${line}`);

const usage = `usage: tsx infra/stack/cli.ts <command> [--profile dev|cluster]
  install [--test-tools]   install the pinned servers that are missing (a second run installs nothing);
                   --test-tools also installs what only the tests use (Chromium, promtool, and the
                   cluster profile's Temporal server and Web UI, built with Go)
  up               install, then start Temporal (with Web UI), Kafka, PostgreSQL, Zipkin and the SMTP sink; wait until each answers
  down [name...]   stop what up and start started (by pid)
  status           show each server's state, endpoints and log
  logs [name] [-n N] [-f]   print (or follow) the logs of one server or all
  start            up, then the application (payment gateway, Temporal worker, choreography,
                   projector, API); print the URLs and stay in the foreground, restarting any
                   process it started that dies; Ctrl-C stops what it started
  --profile        dev (default): the Temporal CLI dev server, one Kafka broker, one of each
                   application process; cluster: the Temporal server's frontend, 2 history,
                   2 matching and worker services on PostgreSQL with the standalone Web UI (built
                   with Go on first use), three Kafka nodes (replication 3, min in-sync 2), and
                   two of each application process but the gateway. Also STACK_PROFILE.`;

async function install(config: StackConfig) {
  const tools = await installTools(config.STACK_TOOLS_DIR, say);
  if (config.STACK_PROFILE === 'cluster') await installClusterTools(config.STACK_TOOLS_DIR, say);
  return tools;
}

/** Every process the stack manages: the servers (with any the other profile started), then the application processes. */
const everything = (config: StackConfig) => [...stackServersInUse(config, locateTools(config.STACK_TOOLS_DIR)), ...appServicesInUse(config)];

function printEndpoints(config: StackConfig, withApp: boolean) {
  const servers = withApp ? everything(config) : stackServers(config, locateTools(config.STACK_TOOLS_DIR));
  for (const server of servers) {
    for (const [label, value] of Object.entries(server.endpoints())) say(`${label.padEnd(20)} ${value}`);
  }
  say(`logs             ${stackFolders(config).logs}/<name>.log`);
}

async function up(config: StackConfig, withApp: boolean) {
  const tools = await install(config);
  const result = await stackUp(config, stackServers(config, tools, say), say);
  if (withApp) {
    // The application needs the servers: it starts once they all answer.
    // Application processes start together and may race at first start (topics, migrations): a
    // process that fails then gets two more tries before the start is called failed.
    const app = await stackUp(config, appServices(config), say, 3);
    result.started.push(...app.started);
    result.alreadyRunning.push(...app.alreadyRunning);
  }
  if (result.alreadyRunning.length > 0) say(`already running: ${result.alreadyRunning.join(', ')}`);
  printEndpoints(config, withApp);
  return result;
}

async function status(config: StackConfig) {
  const statuses = await stackStatus(config, everything(config));
  const isApp = (name: string) => appServicesInUse(config).some((a) => a.name === name);
  // The application processes are only expected while `npm start` runs (their pid files say so).
  const shown = statuses.filter((s) => !(s.state === 'down' && isApp(s.name) && !s.pid));
  for (const s of shown) {
    const where = Object.values(s.endpoints).join('  ');
    console.log(`${s.name.padEnd(15)} ${s.state.padEnd(14)} ${(s.pid ? `pid ${s.pid}` : '').padEnd(11)} ${where}`);
    if (s.detail) console.log(`                ${s.detail}`);
    if (s.restarts) console.log(`                restarted ${s.restarts} time(s) by npm start`);
    if (s.lastExit) console.log(`                last exit: ${s.lastExit.reason} at ${s.lastExit.at}`);
    console.log(`                log: ${s.logPath}`);
  }
  return shown.every((s) => s.state === 'up');
}

function logs(config: StackConfig, names: string[], lines: number, follow: boolean) {
  const all = everything(config);
  // `logs api` shows both of the cluster profile's `api-1` and `api-2`; `logs api-2` only the one.
  const servers = all.filter((s) => names.length === 0 || names.some((name) => s.name === name || s.name.replace(/-[12]$/, '') === name));
  if (servers.length === 0) throw new Error(`no server named ${names.join(', ')} (${all.map((s) => s.name).join(', ')})`);
  if (follow) {
    spawn('tail', ['-n', String(lines), '-F', ...servers.map((s) => s.logPath)], { stdio: 'inherit' });
    return;
  }
  for (const server of servers) {
    console.log(`==> ${server.logPath} <==`);
    console.log(tailOf(server.logPath, lines).join('\n'));
  }
}

async function start(config: StackConfig) {
  // Listening from the start: a Ctrl-C while servers are still starting must not end this process
  // and leave what it started running (the servers are detached). It stops once the start is done.
  // Ctrl-C also reaches us twice (from the terminal and forwarded by npm); a second signal must not
  // kill this process half-way through stopping what it started.
  let stopRequested = false;
  let wake: () => void = () => undefined;
  const onSignal = () => {
    stopRequested = true;
    wake();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const { started } = await up(config, true);
  if (stopRequested) say('stop requested while starting');
  else {
    // What this command started, it keeps running; servers that were already up are someone else's.
    const supervisor = new Supervisor({
      servers: everything(config).filter((s) => started.includes(s.name)),
      pids: new PidFiles(stackFolders(config).run),
      readyTimeoutMs: config.STACK_READY_TIMEOUT_SECONDS * 1000,
      report: say,
      logMaxBytes: config.STACK_LOG_MAX_MB * 2 ** 20,
    });
    supervisor.start();
    say('the system is up; press Ctrl-C to stop it');
    // A pending promise alone does not keep Node running; this timer does, until a signal comes.
    const keepAlive = setInterval(() => undefined, 60_000);
    await new Promise<void>((resolve) => (wake = resolve));
    clearInterval(keepAlive);
    await supervisor.stop();
  }
  say('stopping ...');
  // Servers that were running before `start` belong to whoever started them: leave them up.
  // The application stops first, so the worker's in-flight activities still reach the servers.
  await stackDown(config, appServices(config), say, started);
  await stackDown(config, stackServers(config, locateTools(config.STACK_TOOLS_DIR)), say, started);
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'test-tools': { type: 'boolean', default: false },
      profile: { type: 'string' },
      lines: { type: 'string', short: 'n', default: '100' },
      follow: { type: 'boolean', short: 'f', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    console.log(usage);
    return command ? 0 : 2;
  }
  const config = loadStackConfig(values.profile === undefined ? process.env : { ...process.env, STACK_PROFILE: values.profile });
  switch (command) {
    case 'install':
      await install(config);
      if (values['test-tools']) {
        const testTools = await installTestTools(config.STACK_TOOLS_DIR, say);
        say(`test tools: ${testTools.chromium}, ${testTools.promtool}`);
        // The cluster profile's integration test runs the real Temporal server: built once, kept.
        const cluster = await installClusterTools(config.STACK_TOOLS_DIR, say);
        say(`cluster profile: ${cluster.temporalServer}, ${cluster.temporalUi}`);
      }
      say(`installed (tools in ${config.STACK_TOOLS_DIR})`);
      return 0;
    case 'up':
      await up(config, false);
      return 0;
    case 'down': {
      const only = rest.length ? (rest as ServerName[]) : undefined;
      await stackDown(config, appServicesInUse(config), say, only);
      await stackDown(config, stackServersInUse(config, locateTools(config.STACK_TOOLS_DIR)), say, only);
      return 0;
    }
    case 'status':
      return (await status(config)) ? 0 : 1;
    case 'logs':
      logs(config, rest, Number(values.lines), values.follow);
      return 0;
    case 'start':
      await start(config);
      return 0;
    default:
      console.error(`unknown command "${command}"\n${usage}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Our own errors carry a message written for the terminal; anything else gets its stack.
    console.error(err instanceof StackError ? `[stack] ${err.message}` : err);
    process.exitCode = 1;
  },
);
