import closeWithGrace from 'close-with-grace';
import { Type } from 'typebox';
import { ConfigError, loadConfig } from './config.ts';

/** Closes one resource of a process (a server, a consumer, a pool); may be async. */
export type Closer = () => unknown;

/** The log calls the stop sequence makes: a pino logger fits. */
export interface StopLogger {
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** What a process entry point's `main` receives from {@link runProcess} to declare its stop sequence. */
export interface ProcessLifecycle {
  /**
   * Registers `close` to run when the process stops. Closers run one after the other in reverse
   * order of registration (register each resource right after it is opened: the last opened, which
   * uses the others, closes first). `name` is for the logs.
   */
  onStop: (name: string, close: Closer) => void;
  /** Sends the stop sequence's log lines through `log` from now on (before: stderr). */
  useLogger: (log: StopLogger) => void;
  /**
   * Lengthens the grace period by `ms`, for a closer that waits a bounded time of its own (the
   * Temporal worker lets in-flight activities finish for WORKER_SHUTDOWN_GRACE_SECONDS).
   */
  extendGracePeriod: (ms: number) => void;
}

/** The variables of the stop sequence, read by {@link runProcess} for every long-running process. */
export const ShutdownEnv = {
  SHUTDOWN_GRACE_SECONDS: Type.Integer({ minimum: 1, default: 10, description: 'how long the stop sequence may take before the process exits 1 anyway' }),
};

const stderrLogger: StopLogger = {
  info: () => {},
  error: (fields, message) => console.error(message, fields),
};

/**
 * Runs a long-running process entry point: `main` starts the process and registers, with
 * `onStop`, what to close. On the first SIGINT or SIGTERM (or `beforeExit`), the closers run in
 * reverse order and the process exits 0; if a closer fails, or the grace period
 * (SHUTDOWN_GRACE_SECONDS, default 10) passes first, it exits 1. An uncaught exception, an
 * unhandled rejection or `main` failing runs the closers too, then exits 1. A second signal while
 * stopping exits 1 at once. A configuration error prints only its message (it names every bad
 * variable); other errors print with their stack.
 */
export function runProcess(main: (lifecycle: ProcessLifecycle) => Promise<void>, env: NodeJS.ProcessEnv = process.env): void {
  const closers: { name: string; close: Closer }[] = [];
  let log = stderrLogger;
  let graceMs: number;
  let stopping = false;
  try {
    graceMs = loadConfig(Type.Object(ShutdownEnv), env).SHUTDOWN_GRACE_SECONDS * 1000;
  } catch (err) {
    reportFailure(log, err);
    process.exit(1);
  }

  const stop = async ({ signal, err }: { signal?: string; err?: Error }) => {
    stopping = true;
    if (err) reportFailure(log, err);
    else log.info({ signal }, 'stopping');
    let failed = false;
    for (const { name, close } of [...closers].reverse()) {
      try {
        await close();
      } catch (closeErr) {
        // The others still close: a failed consumer must not leave the pool open.
        failed = true;
        log.error({ err: closeErr, closer: name }, 'close failed');
      }
    }
    if (failed) throw new Error('the stop sequence had failures (logged above)');
    if (!err) log.info({}, 'stopped');
  };
  const install = () =>
    closeWithGrace(
      {
        delay: graceMs,
        logger: {
          error: (message: unknown) =>
            log.error({ err: message instanceof Error ? message : undefined }, message instanceof Error ? 'stop failed' : String(message)),
        },
      },
      stop,
    );
  let handle = install();

  // Left unhandled on purpose: close-with-grace's unhandledRejection hook then runs the closers
  // registered so far and exits 1, as for any other uncaught error.
  void main({
    onStop: (name, close) => void closers.push({ name, close }),
    useLogger: (logger) => void (log = logger),
    extendGracePeriod: (ms) => {
      // close-with-grace reads its delay once: reinstall with the longer one, unless already stopping.
      if (stopping) return;
      handle.uninstall();
      graceMs += ms;
      handle = install();
    },
  });
}

function reportFailure(log: StopLogger, err: unknown): void {
  // The message of a configuration error names every bad variable: a stack would only hide it.
  if (err instanceof ConfigError) console.error(err.message);
  else log.error({ err }, 'process failed');
}
