import { copyFileSync, statSync, truncateSync } from 'node:fs';

/**
 * Keeps the stack's process logs bounded (docs/retention.md): a log past `maxBytes` is copied to
 * `<log>.1` (replacing the previous copy) and emptied in place. The process keeps writing to the
 * same file: it was opened for appending (infra/stack/process.ts), so its next line goes to the
 * new end. Lines written between the copy and the emptying are lost, as with logrotate's
 * copytruncate; a log thus never takes more than about twice `maxBytes`.
 * @returns the logs it rotated.
 */
export function rotateLogs(logPaths: readonly string[], maxBytes: number): string[] {
  const rotated: string[] = [];
  for (const path of logPaths) {
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      continue; // not written yet
    }
    if (size <= maxBytes) continue;
    copyFileSync(path, `${path}.1`);
    truncateSync(path, 0);
    rotated.push(path);
  }
  return rotated;
}
