import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { locateFuzzer } from '../../infra/stack/install.ts';
import { dependencyChecks } from '../../src/api/readiness.ts';
import { testAuth } from './helpers/auth.ts';
import { startFullRuntime, type FullRuntime } from './helpers/full-runtime.ts';
import '../setup/servers.ts';

const run = promisify(execFile);

/**
 * Property-based fuzzing of the API (schemathesis), generated from the OpenAPI document it serves:
 * valid and invalid requests to every operation, against both flows on the real servers. Any
 * answer >= 500, or one the document does not describe (status, content type, body), fails.
 */
describe('the API under generated requests', () => {
  let runtime: FullRuntime;
  let kafkaAdmin: Admin;
  let url: string;
  const reports = mkdtempSync(join(tmpdir(), 'order-saga-fuzz-'));
  const apiLog = join(reports, 'api-errors.log');

  beforeAll(async () => {
    const servers = inject('servers');
    kafkaAdmin = new Kafka({ clientId: 'api-fuzz-test', brokers: servers.kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
    await kafkaAdmin.connect();
    // The readiness checks are the API's own, so /readyz is fuzzed as it really answers.
    const checks: ReturnType<typeof dependencyChecks> = [];
    // The API logs its errors to a file: a server error the fuzzer finds comes with its cause.
    runtime = await startFullRuntime(servers, { readiness: checks, apiLogger: pino({ level: 'error' }, pino.destination({ dest: apiLog, sync: true })) });
    checks.push(...dependencyChecks({ pool: runtime.harness.pool, kafkaAdmin, sagas: runtime.orchestrated.sagas }));
    url = await runtime.api.listen({ port: 0, host: '127.0.0.1' });
  }, 120_000);

  afterAll(async () => {
    await runtime?.close();
    await kafkaAdmin?.disconnect();
    rmSync(reports, { recursive: true, force: true });
  });

  /**
   * One schemathesis run over the listening API, every request with `token`, leaving out the
   * operation `except`, in `phases`. With `generatedIdsOnly`, no phase reuses values from earlier
   * answers (schemathesis does by default: an id listed by GET /orders is sent to the commands).
   */
  async function fuzz(
    token: string,
    { except, phases = 'examples,coverage,fuzzing,stateful', generatedIdsOnly = false }: { except?: string; phases?: string; generatedIdsOnly?: boolean } = {},
  ) {
    const fuzzer = locateFuzzer(loadStackConfig().STACK_TOOLS_DIR);
    const config = join(reports, generatedIdsOnly ? 'generated-only.toml' : 'default.toml');
    writeFileSync(
      config,
      generatedIdsOnly ? ['examples', 'coverage', 'fuzzing'].map((phase) => `[phases.${phase}.extra-data-sources]\nresponses = false\n`).join('\n') : '',
    );
    const args = [
      '--no-color',
      '--config-file',
      config,
      'run',
      `${url}/docs/json`,
      '--header',
      `Authorization: Bearer ${token}`,
      ...(except ? ['--exclude-operation-id', except] : []),
      // A live stream (server-sent events) never ends by itself: not a request and answer to check
      // (test/integration/order-stream.test.ts tests it); an unknown id would also wait 10 s each.
      '--exclude-operation-id',
      'streamOrder',
      '--checks',
      'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance',
      // Bounded so that the two runs take about a minute together on a 2-core machine; a fixed seed makes a failure reproducible.
      '--max-examples',
      '50',
      '--seed',
      '20261129',
      '--phases',
      phases,
      // One worker: Python 3.11's ast.parse is not thread-safe, and Hypothesis calls it while
      // describing strategies (two workers failed a run with "AST constructor recursion depth mismatch").
      '--workers',
      '1',
      '--request-timeout',
      '20',
      '--report-dir',
      reports,
    ];
    // Run in the reports folder: schemathesis keeps a cache in its working directory.
    const outcome = await run(fuzzer.command, [...fuzzer.args, ...args], { cwd: reports, maxBuffer: 64 * 1024 * 1024 }).then(
      ({ stdout }) => ({ code: 0, output: stdout }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? -1, output: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
    );
    const logged = existsSync(apiLog) ? readFileSync(apiLog, 'utf8') : '';
    return { ...outcome, report: `${outcome.output}\nerrors the API logged:\n${logged}` };
  }

  it('answers every generated request with a status, content type and body its OpenAPI document describes, never a server error', async () => {
    const { tokens } = testAuth(inject('servers'));
    // A customer: places orders (the document's example is customer c1's, so its valid bodies are
    // accepted and the stateful phase follows them to reads and cancels of c1's own orders); every
    // other route answers it 403 or 404, which the document declares.
    const customer = await fuzz(await tokens.token({ role: 'customer', customerId: 'c1' }));
    expect(customer.code, `as customer c1:\n${customer.report}`).toBe(0);
    // An operator: the lists, reads, reviews and cancels of any order (POST /orders is the
    // customers'), with generated ids only. GET /orders lists, in the suite's shared database,
    // orders of other test files whose orchestrated workers are gone, where a command is the
    // documented 504 (no worker took it in time): so no stateful phase (its links start from that
    // list) and no ids taken from answers (schemathesis's default, which sent one such id to
    // approve, cancel and reject in a fresh-clone CI run). Commands on real orders are the access
    // matrix's and the scenario table's (api-access, http-scenarios).
    const operator = await fuzz(await tokens.token({ role: 'operator' }), {
      except: 'placeOrder',
      phases: 'examples,coverage,fuzzing',
      generatedIdsOnly: true,
    });
    expect(operator.code, `as an operator:\n${operator.report}`).toBe(0);
  }, 240_000);
});
