/**
 * `npm run test:audit` (part of `npm test`): `npm audit --omit=dev`, failing on any high or
 * critical advisory of a production dependency that infra/supply-chain/audit-exceptions.json does
 * not list with its reason (`[{ "id": "GHSA-…", "reason": "…" }]`). When npm cannot get an audit
 * from the registry it says so loudly, "NOT AUDITED", and fails only with `AUDIT_REQUIRED=true`:
 * some registries and mirrors do not serve the audit endpoint (the one this project's machines
 * reach answers 405), and a test suite whose result depends on which registry answers would fail
 * there for a reason no change to the code can fix. A CI that can reach the endpoint sets
 * `AUDIT_REQUIRED=true`, so that an audit that did not run does not pass.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../stack/paths.ts';
import { AuditUnavailableError, auditFindings, failingSeverities, formatAuditVerdict, judgeAudit, parseAuditExceptions } from './audit-findings.ts';

const exceptionsPath = join(projectRoot, 'infra', 'supply-chain', 'audit-exceptions.json');
const auditRequired = process.env.AUDIT_REQUIRED === 'true';

/** An audit that could not run: fatal only when the audit is required (see the file's comment). */
function notAudited(why: string): number {
  console.error(`npm audit FAILED TO RUN, so the dependencies are NOT audited: ${why}`);
  if (auditRequired) return 1;
  console.error('(not failing the run: AUDIT_REQUIRED is not true; set it where the registry serves the audit endpoint)');
  return 0;
}

function main(): number {
  const exceptions = parseAuditExceptions(JSON.parse(readFileSync(exceptionsPath, 'utf8')));
  // npm exits 1 both when it finds advisories and when it fails: the JSON tells which.
  const run = spawnSync('npm', ['audit', '--json', '--omit=dev'], { cwd: projectRoot, encoding: 'utf8', timeout: 300_000 });
  if (run.error) return notAudited(`npm could not be started: ${run.error.message}`);
  let report: unknown;
  try {
    report = JSON.parse(run.stdout);
  } catch {
    return notAudited(`exit ${run.status}, it said:\n${run.stdout}${run.stderr}`);
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
    return notAudited(
      `${err.message}; the registry's audit endpoint (POST <registry>/-/npm/v1/security/advisories/bulk) must be reachable, and a mirror or proxy may not serve it`,
    );
  }
}

process.exitCode = main();
