import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { InstallFailedError, PrerequisiteMissingError } from './errors.ts';
import { installInputs } from './paths.ts';
import {
  checkGo,
  checkJavaCompiler,
  checkMaven,
  checkOpenssl,
  checkPythonVenv,
  findChromium,
  findJava,
  findPostgresBinDir,
  findPromtool,
} from './prerequisites.ts';
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
  /** The schema registry (Apicurio Registry, built by infra/schema-registry/pom.xml): run with `java -jar`. */
  schemaRegistryJar: string;
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
    schemaRegistryDir: join(toolsDir, 'schema-registry'),
    schemaRegistryBuildDir: join(toolsDir, 'schema-registry', 'build'),
    schemaRegistryStamp: join(toolsDir, 'schema-registry', '.order-saga-installed'),
    fuzzDir: join(toolsDir, 'fuzz'),
    fuzzStamp: join(toolsDir, 'fuzz', '.order-saga-installed'),
  };
}

/** The pinned API fuzzer (schemathesis), next to the Temporal binaries' requirements. */
const fuzzRequirements = join(dirname(installInputs.pythonRequirements), 'fuzz-requirements.txt');

/** True when `stamp` records the hash of the install input `input` (so nothing needs doing). */
const isCurrent = (stamp: string, input: string) => existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === sha256(input);

/** Installs the pinned `requirements` into a venv of its own at `dir`, unless its stamp says they are there. */
async function installPythonVenv(what: string, requirements: string, dir: string, stamp: string, toolsDir: string, report: InstallReporter): Promise<void> {
  if (isCurrent(stamp, requirements)) return;
  checkPythonVenv();
  const log = layout(toolsDir).log;
  report(`installing ${what} from PyPI into ${dir} ...`);
  rmSync(dir, { recursive: true, force: true });
  const venv = await runLogged('python3', ['-m', 'venv', dir], log);
  if (venv.code !== 0) throw new InstallFailedError('the Python venv', venv.startError ?? `python3 -m venv exited with ${venv.code}`, log);
  const pip = await runLogged(join(dir, 'bin', 'pip'), ['install', '--disable-pip-version-check', '-r', requirements], log);
  if (pip.code !== 0) throw new InstallFailedError(what, pip.startError ?? `pip exited with ${pip.code}`, log);
  writeFileSync(stamp, `${sha256(requirements)}\n`);
}

const installPythonTools = (toolsDir: string, report: InstallReporter) => {
  const paths = layout(toolsDir);
  return installPythonVenv('the Temporal CLI and test server', installInputs.pythonRequirements, paths.pythonDir, paths.pythonStamp, toolsDir, report);
};

/** Copies the artifacts of a pinned Maven `pom` into `libDir`, unless its stamp says they are there. */
async function installFromMaven(
  what: string,
  pom: string,
  dir: string,
  libDir: string,
  stamp: string,
  toolsDir: string,
  report: InstallReporter,
): Promise<void> {
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
  return installFromMaven(
    'the Zipkin server (trace viewer)',
    installInputs.zipkinPom,
    paths.zipkinDir,
    paths.zipkinLibDir,
    paths.zipkinStamp,
    toolsDir,
    report,
  );
};

/**
 * Hash of every file of the folder `dir` (their paths and contents), so that a change to any of
 * them is seen. A `target` folder (where a `mvn package` run by hand in the folder builds) is left out.
 */
function sha256OfTree(dir: string): string {
  const hash = createHash('sha256');
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        if (folder !== dir || entry.name !== 'target') walk(path);
      } else if (entry.isFile()) {
        hash
          .update(`${relative(dir, path)}\0`)
          .update(readFileSync(path))
          .update('\0');
      }
    }
  };
  walk(dir);
  return hash.digest('hex');
}

/** Where the schema registry's runnable jar is once built. */
const schemaRegistryJarOf = (toolsDir: string) => join(layout(toolsDir).schemaRegistryBuildDir, 'quarkus-app', 'quarkus-run.jar');

const isSchemaRegistryCurrent = (stamp: string) => existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === sha256OfTree(installInputs.schemaRegistryDir);

/**
 * Builds the schema registry (Apicurio Registry, a Quarkus application assembled from Maven
 * Central by infra/schema-registry/pom.xml) into the tools folder, unless its stamp (the hash of
 * every file of infra/schema-registry) says it is there. The first build fetches about 130 MB of
 * jars into ~/.m2; later builds take about 20 s.
 */
async function installSchemaRegistry(toolsDir: string, report: InstallReporter): Promise<void> {
  const paths = layout(toolsDir);
  if (isSchemaRegistryCurrent(paths.schemaRegistryStamp)) return;
  checkMaven();
  checkJavaCompiler();
  const log = paths.log;
  report(`building the schema registry (Apicurio Registry) from Maven Central into ${paths.schemaRegistryBuildDir} (log: ${log}) ...`);
  rmSync(paths.schemaRegistryDir, { recursive: true, force: true });
  mkdirSync(paths.schemaRegistryDir, { recursive: true });
  const mvn = await runLogged(
    'mvn',
    ['-B', '-q', '-f', join(installInputs.schemaRegistryDir, 'pom.xml'), 'package', `-Dregistry.build.dir=${paths.schemaRegistryBuildDir}`],
    log,
  );
  if (mvn.code !== 0) throw new InstallFailedError('the schema registry (Apicurio Registry)', mvn.startError ?? `mvn exited with ${mvn.code}`, log);
  if (!existsSync(schemaRegistryJarOf(toolsDir))) {
    throw new InstallFailedError('the schema registry (Apicurio Registry)', `mvn built no ${schemaRegistryJarOf(toolsDir)}`, log);
  }
  writeFileSync(paths.schemaRegistryStamp, `${sha256OfTree(installInputs.schemaRegistryDir)}\n`);
}

/**
 * Installs a Debian package with apt-get (root only), refreshing the package lists once if the
 * first attempt fails, then says where the tool landed.
 */
async function aptInstall(
  what: string,
  debianPackage: string,
  locate: () => string | undefined,
  howTo: string,
  toolsDir: string,
  report: InstallReporter,
): Promise<string> {
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
  aptInstall(
    'the PostgreSQL server',
    'postgresql',
    () => findPostgresBinDir(),
    'install it (Debian: apt-get install postgresql) or set PG_BIN to the folder holding postgres and initdb',
    toolsDir,
    report,
  );

/** Where the tools only the tests need are. */
export interface TestTools {
  chromium: string;
  promtool: string;
  /** How to run the API fuzzer (schemathesis). */
  schemathesis: { command: string; args: string[] };
}

/**
 * Installs what only the tests need, from Debian's packages, unless it is there already:
 * Chromium for the browser tests (Temporal Web UI, Swagger UI) and `promtool` (package
 * `prometheus`) to check and unit-test the alert rules; and, from PyPI into a venv of its own,
 * the API fuzzer schemathesis (`infra/python/fuzz-requirements.txt`). `npm start` never installs them.
 */
export async function installTestTools(toolsDir: string, report: InstallReporter = () => undefined): Promise<TestTools> {
  const chromium = await aptInstall(
    'Chromium (for the browser tests)',
    'chromium',
    () => findChromium(),
    'install it (Debian: apt-get install chromium) or set CHROMIUM_PATH to a Chromium or Chrome binary',
    toolsDir,
    report,
  );
  const promtool = await aptInstall(
    'promtool (for the alert rule tests)',
    'prometheus',
    () => findPromtool(),
    'install it (Debian: apt-get install prometheus) or set PROMTOOL_PATH to a promtool binary',
    toolsDir,
    report,
  );
  const paths = layout(toolsDir);
  await installPythonVenv('the API fuzzer (schemathesis)', fuzzRequirements, paths.fuzzDir, paths.fuzzStamp, toolsDir, report);
  return { chromium, promtool, schemathesis: locateFuzzer(toolsDir) };
}

/**
 * Says how to run the installed API fuzzer, without installing anything: the venv's Python with
 * `-m schemathesis.cli`, not the venv's `st` script, whose first line names the folder the venv
 * was created in (a `.tools` reached through another path or a moved clone would fail ENOENT).
 * @throws PrerequisiteMissingError naming the install command when it is missing or its pin changed.
 */
export function locateFuzzer(toolsDir: string): { command: string; args: string[] } {
  const paths = layout(toolsDir);
  if (!isCurrent(paths.fuzzStamp, fuzzRequirements)) {
    throw new PrerequisiteMissingError(
      `the pinned API fuzzer in ${paths.fuzzDir}`,
      'run `npx tsx infra/stack/cli.ts install --test-tools` (npm test does it for you)',
    );
  }
  return { command: join(paths.fuzzDir, 'bin', 'python3'), args: ['-m', 'schemathesis.cli'] };
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
  await installSchemaRegistry(toolsDir, report);
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
  if (!isSchemaRegistryCurrent(paths.schemaRegistryStamp)) throw notInstalled(`the pinned schema registry in ${paths.schemaRegistryBuildDir}`);
  const postgresBinDir = findPostgresBinDir();
  if (!postgresBinDir) throw notInstalled('the PostgreSQL server');
  return {
    temporal: join(paths.pythonDir, 'bin', 'temporal'),
    temporalTestServer: join(paths.pythonDir, 'bin', 'temporal-test-server'),
    kafkaLibDir: paths.kafkaLibDir,
    kafkaLog4jConfig: installInputs.kafkaLog4jConfig,
    java: findJava(),
    postgresBinDir,
    zipkinJar: join(
      paths.zipkinLibDir,
      readdirSync(paths.zipkinLibDir).find((f) => f.startsWith('zipkin-server-') && f.endsWith('-exec.jar')) ?? 'zipkin-server-exec.jar',
    ),
    schemaRegistryJar: schemaRegistryJarOf(toolsDir),
  };
}

/**
 * The pinned Go programs of the cluster profile, built from the Go module proxy. v1.32.1 is the
 * newest server tag that builds with the Go installed here (later tags ask for a newer toolchain).
 */
export const clusterModules = {
  temporal: { version: 'v1.32.1', packages: ['go.temporal.io/server/cmd/server', 'go.temporal.io/server/cmd/tools/sql'], binaries: ['server', 'sql'] },
  ui: { version: 'v2.54.1', packages: ['github.com/temporalio/ui-server/v2/cmd/server'], binaries: ['server'] },
} as const;

/** Where the cluster profile's binaries are. */
export interface ClusterTools {
  /** The Temporal server (all services). */
  temporalServer: string;
  /** The Temporal SQL schema tool. */
  temporalSql: string;
  /** The standalone Temporal Web UI. */
  temporalUi: string;
}

const clusterDirs = (toolsDir: string) => ({
  temporal: join(toolsDir, 'temporal-cluster', clusterModules.temporal.version),
  ui: join(toolsDir, 'temporal-ui', clusterModules.ui.version),
});

/** What a stamp records: the packages and version built into the folder. */
const goStampOf = (module: { version: string; packages: readonly string[] }) => module.packages.map((p) => `${p}@${module.version}`).join(' ');
const goStamp = (dir: string) => join(dir, '.order-saga-installed');
const isGoCurrent = (dir: string, module: { version: string; packages: readonly string[] }) =>
  existsSync(goStamp(dir)) && readFileSync(goStamp(dir), 'utf8').trim() === goStampOf(module);

/**
 * True when every binary in `dir` was built from `module` at its version (`go version -m` reads the
 * build information Go embeds), so binaries built by hand before the stamp existed are kept.
 */
function builtFrom(dir: string, module: { version: string; packages: readonly string[]; binaries: readonly string[] }): boolean {
  return module.binaries.every((binary, i) => {
    const path = join(dir, binary);
    if (!existsSync(path)) return false;
    const info = capture('go', ['version', '-m', path]);
    return info.status === 0 && info.output.includes(`path\t${module.packages[i]}\n`) && new RegExp(`\\tmod\\t\\S+\\t${module.version}\\t`).test(info.output);
  });
}

/** Builds one pinned Go module's programs into `dir` with `go install`, unless its stamp says they are there. */
async function installGoModule(
  what: string,
  module: (typeof clusterModules)[keyof typeof clusterModules],
  dir: string,
  toolsDir: string,
  report: InstallReporter,
) {
  if (isGoCurrent(dir, module)) return;
  checkGo();
  if (!builtFrom(dir, module)) {
    const log = layout(toolsDir).log;
    report(`building ${what} ${module.version} from the Go module proxy into ${dir} (the first build takes minutes; log: ${log}) ...`);
    mkdirSync(dir, { recursive: true });
    const env = { ...process.env, GOBIN: dir, GOFLAGS: '-mod=mod' };
    const go = await runLogged('go', ['install', ...module.packages.map((p) => `${p}@${module.version}`)], log, { env });
    if (go.code !== 0) throw new InstallFailedError(what, go.startError ?? `go install exited with ${go.code}`, log);
  }
  writeFileSync(goStamp(dir), `${goStampOf(module)}\n`);
}

/**
 * Installs the cluster profile's programs: the Temporal server and its SQL schema tool, and the
 * standalone Web UI, each built once with `go install` and kept in the tools folder.
 * The profile's TLS certificates are made with `openssl` when its servers first start (see
 * infra/stack/certificates.ts): it is checked here, before anything is built.
 * @throws PrerequisiteMissingError naming Go or OpenSSL when it is missing.
 */
export async function installClusterTools(toolsDir: string, report: InstallReporter = () => undefined): Promise<ClusterTools> {
  const dirs = clusterDirs(toolsDir);
  await installGoModule('the Temporal server', clusterModules.temporal, dirs.temporal, toolsDir, report);
  await installGoModule('the Temporal Web UI server', clusterModules.ui, dirs.ui, toolsDir, report);
  checkOpenssl();
  return locateClusterTools(toolsDir);
}

/**
 * Says where the cluster profile's programs are, without installing anything.
 * @throws PrerequisiteMissingError naming the install command when they are missing.
 */
export function locateClusterTools(toolsDir: string): ClusterTools {
  const dirs = clusterDirs(toolsDir);
  for (const [dir, module] of [
    [dirs.temporal, clusterModules.temporal],
    [dirs.ui, clusterModules.ui],
  ] as const) {
    if (!isGoCurrent(dir, module)) {
      throw new PrerequisiteMissingError(
        `the cluster profile's ${goStampOf(module)} in ${dir}`,
        'run `npm run stack:install -- --profile cluster` (npm start with --profile cluster and npm test do it for you)',
      );
    }
  }
  return clusterToolPaths(toolsDir);
}

/** Where the cluster profile's programs go, installed or not (enough to stop or show its processes). */
export function clusterToolPaths(toolsDir: string): ClusterTools {
  const dirs = clusterDirs(toolsDir);
  return { temporalServer: join(dirs.temporal, 'server'), temporalSql: join(dirs.temporal, 'sql'), temporalUi: join(dirs.ui, 'server') };
}
