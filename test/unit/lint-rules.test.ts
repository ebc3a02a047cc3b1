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
