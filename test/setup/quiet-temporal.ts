// Tests provoke activity failures on purpose (declines, gateway outages); the worker would log
// each one with its stack. Keep errors only, from the TypeScript side and from the native core.
import { DefaultLogger, Runtime } from '@temporalio/worker';

try {
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } } });
} catch {
  // Already installed in this process by an earlier test file: keep that one.
}
