/** Resolves on the first SIGINT or SIGTERM: the moment a process entry point starts to stop. */
export function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

/**
 * Runs a process entry point's `main`. A configuration error prints its message (it names every
 * bad variable); anything else prints with its stack; either way the process exits 1.
 */
export function runProcess(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(err instanceof Error && err.name === 'ConfigError' ? err.message : err);
    process.exit(1);
  });
}
