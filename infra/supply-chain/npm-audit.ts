/**
 * `npm run test:audit` (part of `npm test`): `npm audit --omit=dev`, failing on any high or
 * critical advisory of a production dependency that infra/supply-chain/audit-exceptions.json does
 * not list with its reason (`[{ "id": "GHSA-…", "reason": "…" }]`). When npm cannot get an audit
 * from the registry it says so and fails: an audit that did not run has not passed.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../stack/paths.ts';
import { AuditUnavailableError, auditFindings, failingSeverities, formatAuditVerdict, judgeAudit, parseAuditExceptions } from './audit-findings.ts';

const exceptionsPath = join(projectRoot, 'infra', 'supply-chain', 'audit-exceptions.json');

function main(): number {
  const exceptions = parseAuditExceptions(JSON.parse(readFileSync(exceptionsPath, 'utf8')));
  // npm exits 1 both when it finds advisories and when it fails: the JSON tells which.
  const run = spawnSync('npm', ['audit', '--json', '--omit=dev'], { cwd: projectRoot, encoding: 'utf8', timeout: 300_000 });
  if (run.error) {
    console.error(`npm audit could not be run: ${run.error.message}`);
    return 1;
  }
  let report: unknown;
  try {
    report = JSON.parse(run.stdout);
  } catch {
    console.error(`npm audit FAILED TO RUN (exit ${run.status}), so the dependencies are NOT audited; it said:\n${run.stdout}${run.stderr}`);
    return 1;
  }
  try {
    const verdict = judgeAudit(auditFindings(report), exceptions);
    for (const line of formatAuditVerdict(verdict)) console.log(line);
    if (verdict.failing.length > 0) {
      console.error(
        `npm audit: ${verdict.failing.length} ${failingSeverities.join('/')} advisories in production dependencies; upgrade, or write each down with its reason in ${exceptionsPath}`,
      );
      return 1;
    }
    console.log(
      `npm audit: no ${failingSeverities.join(' or ')} advisory in production dependencies${verdict.excepted.length ? ` beyond the ${verdict.excepted.length} excepted` : ''}`,
    );
    return 0;
  } catch (err) {
    if (!(err instanceof AuditUnavailableError)) throw err;
    console.error(`npm audit FAILED TO RUN, so the dependencies are NOT audited: ${err.message}`);
    console.error("the registry's audit endpoint (POST <registry>/-/npm/v1/security/advisories/bulk) must be reachable; a mirror or proxy may not serve it");
    return 1;
  }
}

process.exitCode = main();
