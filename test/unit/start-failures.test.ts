import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PrerequisiteMissingError, ServerStartError } from '../../infra/stack/errors.ts';
import { freePort } from '../../infra/stack/ports.ts';
import { findJava } from '../../infra/stack/prerequisites.ts';
import { createTemporalServer } from '../../infra/stack/servers/temporal.ts';
import { startServer } from '../../infra/stack/start-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'order-saga-failures-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('stack failures say what failed and where to look', () => {
  it('a missing Java names the tool and how to install it', () => {
    expect(() => findJava({ JAVA_HOME: join(dir, 'no-such-jdk') })).toThrow(PrerequisiteMissingError);
    expect(() => findJava({ JAVA_HOME: join(dir, 'no-such-jdk') })).toThrow(
      /Java 17\+ .*missing: install it \(Debian: apt-get install openjdk-17-jre-headless\)/,
    );
  });

  it('a server that exits at once is reported with its exit code and the path of its log', async () => {
    const logPath = join(dir, 'temporal.log');
    const server = createTemporalServer({ temporal: '/bin/false', port: await freePort(), logPath });

    const failure = startServer(server, 30_000);

    await expect(failure).rejects.toBeInstanceOf(ServerStartError);
    await expect(failure).rejects.toThrow(`temporal did not start: process exited with code 1; log: ${logPath}`);
  });
});
