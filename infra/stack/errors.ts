/**
 * Errors of the local stack scripts. Each has a stable code, and a message written for the person
 * at the terminal: what failed, and where to look (the log path) or what to install.
 */
export abstract class StackError extends Error {
  /** Stable code of this failure. */
  abstract readonly code: string;
}

/** Thrown when a tool the stack needs (java, mvn, python3 with venv, PostgreSQL) is missing. */
export class PrerequisiteMissingError extends StackError {
  readonly code = 'PREREQUISITE_MISSING';
  constructor(
    readonly tool: string,
    readonly howToInstall: string,
  ) {
    super(`${tool} is missing: ${howToInstall}`);
  }
}

/** Thrown when installing a pinned server (pip, mvn, apt-get) fails. */
export class InstallFailedError extends StackError {
  readonly code = 'INSTALL_FAILED';
  constructor(
    readonly component: string,
    readonly reason: string,
    readonly logPath: string,
  ) {
    super(`installing ${component} failed: ${reason}; log: ${logPath}`);
  }
}

/** Thrown when a port a server needs is taken by another process. */
export class PortInUseError extends StackError {
  readonly code = 'PORT_IN_USE';
  constructor(
    readonly server: string,
    readonly port: number,
    readonly setting: string,
  ) {
    super(`${server} cannot start: 127.0.0.1:${port} is already in use by another process (free it, or set ${setting})`);
  }
}

/** Thrown when a server exits or does not answer its readiness probe in time. */
export class ServerStartError extends StackError {
  readonly code = 'SERVER_START_FAILED';
  constructor(
    readonly server: string,
    readonly reason: string,
    readonly logPath: string,
  ) {
    super(`${server} did not start: ${reason}; log: ${logPath}`);
  }
}

/** Thrown when an environment variable of the stack has a wrong type or is out of range. */
export class StackConfigError extends StackError {
  readonly code = 'STACK_CONFIG_INVALID';
  constructor(readonly problems: string) {
    super(`invalid stack configuration: ${problems}`);
  }
}
