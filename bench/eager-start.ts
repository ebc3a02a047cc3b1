/**
 * What eager workflow start buys on a Temporal server, measured on the no-op saga of the
 * orchestrated flow's shape (bench/baselines.ts): the same closed loop with and without
 * `requestEagerStart`, alternating, `--repeat` times each. Eager start needs the client and a
 * worker to share one `NativeConnection` in one process, which is why the flow itself does not use
 * it (docs/throughput.md weighs it). Run it against a server nothing else is using:
 *
 *   npx tsx bench/eager-start.ts --address 127.0.0.1:7233 --concurrency 1    # latency at idle
 *   npx tsx bench/eager-start.ts --address 127.0.0.1:7233 --concurrency 50   # throughput
 */
import { parseArgs } from 'node:util';
import { temporalBaseline } from './baselines.ts';
import { orchestratedStepKinds } from './result.ts';

const { values } = parseArgs({
  options: {
    address: { type: 'string', default: '127.0.0.1:7233' },
    concurrency: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '20' },
    repeat: { type: 'string', default: '3' },
  },
});
const [concurrency, seconds, repeat] = [values.concurrency, values.seconds, values.repeat].map(Number) as [number, number, number];
for (let i = 0; i < repeat; i++) {
  for (const eagerStart of [false, true]) {
    const before = process.cpuUsage();
    const baseline = await temporalBaseline({ address: values.address }, orchestratedStepKinds, concurrency, seconds, { eagerStart });
    const cpu = process.cpuUsage(before);
    const workflows = baseline.perSecond * seconds;
    console.log(
      JSON.stringify({
        eagerStart,
        workflowsPerSecond: baseline.perSecond,
        msPerWorkflowInFlight: Math.round((1000 * concurrency) / baseline.perSecond),
        workerCpuSecondsPerWorkflow: Math.round(((cpu.user + cpu.system) / 1e6 / workflows) * 1e4) / 1e4,
      }),
    );
  }
}
