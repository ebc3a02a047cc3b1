import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The structural rules of STYLE.md live in eslint.config.js; these tests hold them to it.
describe('workflow sandbox lint rules', () => {
  const eslint = new ESLint({ ignore: false });

  const ruleHits = async (file: string) => {
    const [result] = await eslint.lintFiles([file]);
    return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
  };

  it('reject Node built-ins, I/O libraries, client SDK packages and activity implementations in workflow code', async () => {
    const hits = await ruleHits('test/fixtures/lint-violations/io-in-workflow.workflow.ts');
    expect(hits).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^import-x\/no-nodejs-modules: .*node:fs/),
        expect.stringMatching(/^@typescript-eslint\/no-restricted-imports: 'pg' import .*do I\/O in an activity/),
        expect.stringMatching(/^@typescript-eslint\/no-restricted-imports: '@temporalio\/client' import .*do I\/O in an activity/),
        expect.stringMatching(/^@typescript-eslint\/no-restricted-imports: '\.\.\/smoke-activities\.ts' import .*only the types of activities/),
      ]),
    );
  }, 60_000);

  it('accept a workflow that imports only the workflow SDK and the types of its activities', async () => {
    expect(await ruleHits('test/fixtures/workflows/smoke.workflow.ts')).toEqual([]);
  }, 60_000);
});

describe('layering lint rules (DESIGN.md "Layout")', () => {
  const eslint = new ESLint({ ignore: false });
  const fixtures = 'test/fixtures/lint-violations/boundaries/src';

  const boundaryHits = async (file: string) => {
    const [result] = await eslint.lintFiles([`${fixtures}/${file}`]);
    return result!.messages.filter((m) => m.ruleId === 'boundaries/dependencies').map((m) => m.message);
  };

  it.each([
    ['domain/order-total.ts', 'the domain importing a context', /^src\/domain may import only nothing of ours/],
    ['contexts/orders/order-events.ts', 'a context importing messaging', /^src\/contexts may import only src\/domain, src\/platform /],
    ['api/orders-route.ts', 'the API importing the orchestrated flow around the flows port', /^src\/api may import only src\/flows,/],
    ['choreography/payments-handler.ts', "the choreography importing the orchestrated flow's activities", /^src\/choreography may import only /],
  ])(
    'report %s: %s',
    async (file, _what, message) => {
      expect(await boundaryHits(file)).toEqual([expect.stringMatching(message)]);
    },
    60_000,
  );

  it('accept a context that imports the domain', async () => {
    expect(await boundaryHits('contexts/orders/order-store.ts')).toEqual([]);
  }, 60_000);
});
