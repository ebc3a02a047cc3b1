/**
 * `npm run demo`: with `npm start` running, submits a few orders of each kind in both flows
 * through the HTTP API (API_URL, default http://localhost:3000) and prints their outcomes.
 */
import { Type } from 'typebox';
import { formatDemo, runDemo } from '../demo/demo.ts';
import { AccessTokens, stackClientsFile } from '../platform/access-tokens.ts';
import { runCli } from '../platform/cli.ts';
import { loadConfig } from '../platform/config.ts';

runCli(async () => {
  const { API_URL } = loadConfig(Type.Object({ API_URL: Type.String({ default: 'http://localhost:3000' }) }));
  console.log(`submitting ${'orders of every kind in both flows'} to ${API_URL} ...`);
  const outcomes = await runDemo(API_URL, AccessTokens.fromFile(stackClientsFile())).catch((err: unknown) => {
    throw new Error(`the demo needs the API at ${API_URL} (start it with npm start): ${err instanceof Error ? err.message : String(err)}`);
  });
  console.log(formatDemo(outcomes));
  return outcomes.every((o) => o.status === 'confirmed' || o.status === 'cancelled') ? 0 : 1;
});
