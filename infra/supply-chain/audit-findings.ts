/**
 * What `npm audit --json` reports, reduced to the advisories that fail `npm test` (high and
 * critical) and held against the written-down exceptions. Pure: infra/supply-chain/npm-audit.ts
 * runs npm and prints.
 */

/** The severities that fail the audit. */
export const failingSeverities: readonly string[] = ['high', 'critical'];

/** One advisory against one installed package. */
export interface AuditFinding {
  /** The advisory's GitHub id (`GHSA-xxxx-xxxx-xxxx`), or npm's numeric source id when its URL names none. */
  id: string;
  /** The vulnerable package. */
  packageName: string;
  severity: string;
  title: string;
  url: string;
  /** The vulnerable versions. */
  range: string;
}

/** An advisory accepted on purpose, with why (infra/supply-chain/audit-exceptions.json). */
export interface AuditException {
  id: string;
  reason: string;
}

/** Thrown when npm could not produce an audit: the registry's audit endpoint refused or could not be reached. */
export class AuditUnavailableError extends Error {
  override readonly name = 'AuditUnavailableError';
}

/** An advisory as `npm audit --json` (report version 2) lists it in a vulnerability's `via`. */
interface Advisory {
  source?: number;
  name?: string;
  title?: string;
  url?: string;
  severity?: string;
  range?: string;
}

/**
 * The high and critical advisories of an `npm audit --json` report (npm 7 and later), one per
 * advisory and package. A vulnerability whose `via` names only another package is that package's
 * advisory seen from a dependent, listed where it is.
 * @throws AuditUnavailableError when the report is npm's error object instead of an audit.
 */
export function auditFindings(report: unknown): AuditFinding[] {
  const body = report as { error?: { summary?: string; detail?: string }; message?: string; vulnerabilities?: Record<string, { via?: unknown[] }> } | null;
  if (body === null || typeof body !== 'object' || body.error !== undefined || typeof body.vulnerabilities !== 'object') {
    const why = [body?.message, body?.error?.summary, body?.error?.detail].filter((part) => typeof part === 'string' && part !== '').join('; ');
    throw new AuditUnavailableError(`npm audit produced no report${why ? `: ${why}` : ''}`);
  }
  const findings = new Map<string, AuditFinding>();
  for (const [packageName, vulnerability] of Object.entries(body.vulnerabilities)) {
    for (const via of vulnerability.via ?? []) {
      if (typeof via !== 'object' || via === null) continue;
      const advisory = via as Advisory;
      if (!failingSeverities.includes(advisory.severity ?? '')) continue;
      const url = advisory.url ?? '';
      const id = /GHSA(-[23456789cfghjmpqrvwx]{4}){3}/.exec(url)?.[0] ?? String(advisory.source ?? url);
      const name = advisory.name ?? packageName;
      findings.set(`${id} ${name}`, {
        id,
        packageName: name,
        severity: advisory.severity ?? '',
        title: advisory.title ?? '',
        url,
        range: advisory.range ?? '',
      });
    }
  }
  return [...findings.values()].sort((a, b) => a.packageName.localeCompare(b.packageName) || a.id.localeCompare(b.id));
}

/** The findings split by the exceptions, and the exceptions no finding needs any more. */
export interface AuditVerdict {
  /** High or critical, and not written down: these fail. */
  failing: AuditFinding[];
  /** Written down, with the reason. */
  excepted: (AuditFinding & { reason: string })[];
  /** Exceptions for advisories no longer reported: to delete. */
  stale: AuditException[];
}

/** Holds `findings` against `exceptions`: an exception covers every package its advisory id is reported for. */
export function judgeAudit(findings: readonly AuditFinding[], exceptions: readonly AuditException[]): AuditVerdict {
  const reasons = new Map(exceptions.map((e) => [e.id, e.reason]));
  const reported = new Set(findings.map((f) => f.id));
  return {
    failing: findings.filter((f) => !reasons.has(f.id)),
    excepted: findings.filter((f) => reasons.has(f.id)).map((f) => ({ ...f, reason: reasons.get(f.id)! })),
    stale: exceptions.filter((e) => !reported.has(e.id)),
  };
}

/**
 * The exceptions file's entries, checked: each has an advisory id and a reason, and no id twice.
 * @throws Error naming every bad entry.
 */
export function parseAuditExceptions(json: unknown): AuditException[] {
  if (!Array.isArray(json)) throw new Error('the audit exceptions must be a JSON array of { "id", "reason" }');
  const problems: string[] = [];
  const seen = new Set<string>();
  const entries = json.map((entry: unknown, i) => {
    const { id, reason } = (entry ?? {}) as { id?: unknown; reason?: unknown };
    if (typeof id !== 'string' || id.trim() === '') problems.push(`entry ${i}: "id" must name the advisory (GHSA-…)`);
    if (typeof reason !== 'string' || reason.trim() === '') problems.push(`entry ${i}: "reason" must say why the advisory is accepted`);
    if (typeof id === 'string' && seen.has(id)) problems.push(`entry ${i}: ${id} is listed twice`);
    if (typeof id === 'string') seen.add(id);
    return { id: String(id), reason: String(reason) };
  });
  if (problems.length > 0) throw new Error(`invalid audit exceptions: ${problems.join('; ')}`);
  return entries;
}

/** What the audit prints: each failing finding, each exception used with its reason, each stale one. */
export function formatAuditVerdict(verdict: AuditVerdict): string[] {
  const line = (f: AuditFinding) => `${f.severity} ${f.id} in ${f.packageName} ${f.range}: ${f.title} (${f.url})`;
  return [
    ...verdict.failing.map((f) => `FAIL ${line(f)}`),
    ...verdict.excepted.map((f) => `excepted ${line(f)}; reason: ${f.reason}`),
    ...verdict.stale.map((e) => `stale exception ${e.id}: no longer reported; delete it from the exceptions file`),
  ];
}
