/**
 * The alert rules (infra/prometheus/alerts.yml) checked and unit-tested by promtool: each alert
 * fires on the series that should wake someone and stays silent on a near miss
 * (infra/prometheus/alerts.test.yml).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../infra/stack/paths.ts';
import { findPromtool } from '../../infra/stack/prerequisites.ts';

const rulesDir = join(projectRoot, 'infra', 'prometheus');

function promtool(...args: string[]) {
  const path = findPromtool();
  if (!path) throw new Error('promtool not found: run `npm run stack:install -- --test-tools` (npm test does) or set PROMTOOL_PATH');
  const result = spawnSync(path, args, { cwd: rulesDir, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('alert rules', () => {
  it('are valid Prometheus rules', () => {
    const { status, output } = promtool('check', 'rules', 'alerts.yml');
    // As many rules as the file declares alerts (a fixed number broke whenever one was added).
    const alerts = readFileSync(join(rulesDir, 'alerts.yml'), 'utf8').match(/^\s*- alert: /gm)?.length ?? 0;
    expect(output).toContain(`SUCCESS: ${alerts} rules found`);
    expect(status).toBe(0);
  });

  it('fire and stay silent as their unit tests say', () => {
    const { status, output } = promtool('test', 'rules', 'alerts.test.yml');
    expect(output).toContain('SUCCESS');
    expect(status, output).toBe(0);
  });
});
