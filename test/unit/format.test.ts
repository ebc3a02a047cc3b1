import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { check, resolveConfig } from 'prettier';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../infra/stack/paths.ts';

/** What `prettier --check` says of `source` as if it were the file at `path`, under the project's .prettierrc.json. */
async function passesFormatCheck(path: string, source: string): Promise<boolean> {
  const filepath = join(projectRoot, path);
  const config = await resolveConfig(filepath, { editorconfig: true });
  return check(source, { ...config, filepath });
}

describe('formatting (npm run format:check, part of npm run lint)', () => {
  it('rejects a misformatted file', async () => {
    const path = 'test/fixtures/format-violations/misformatted.ts';
    expect(await passesFormatCheck(path, await readFile(join(projectRoot, path), 'utf8'))).toBe(false);
  });

  it("accepts the project's style: single quotes, trailing commas, lines up to 160 characters", async () => {
    const line = `export const message = ['${'a'.repeat(60)}', '${'b'.repeat(60)}'];`;
    expect(line.length).toBeGreaterThan(80);
    expect(await passesFormatCheck('src/example.ts', `${line}\n`)).toBe(true);
    expect(await passesFormatCheck('src/example.ts', 'export const call = f({\n  a: 1,\n  b: 2,\n});\n')).toBe(true);
    expect(await passesFormatCheck('src/example.ts', 'export const call = f({\n  a: 1,\n  b: 2\n});\n')).toBe(false);
  });
});
