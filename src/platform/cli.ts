import { OrderSagaError } from '../domain/errors.ts';

/**
 * Runs a command-line `main` and sets the exit code: its result, or 1 with a one-line message
 * (`CODE: message` for our own errors) instead of a stack trace.
 */
export function runCli(main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err instanceof OrderSagaError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : err);
      process.exitCode = 1;
    },
  );
}
