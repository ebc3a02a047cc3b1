import { describe, expect, it } from 'vitest';
import { AuditUnavailableError, auditFindings, formatAuditVerdict, judgeAudit, parseAuditExceptions } from '../../infra/supply-chain/audit-findings.ts';

/** An `npm audit --json` report (version 2) in npm's own shape: one high, one critical, one moderate, and a dependent of the high one. */
const report = {
  auditReportVersion: 2,
  vulnerabilities: {
    'body-parser': {
      name: 'body-parser',
      severity: 'high',
      isDirect: false,
      via: [
        {
          source: 1099520,
          name: 'body-parser',
          dependency: 'body-parser',
          title: 'body-parser vulnerable to denial of service when url encoding is enabled',
          url: 'https://github.com/advisories/GHSA-qwcr-r2fm-qrc7',
          severity: 'high',
          cwe: ['CWE-405'],
          cvss: { score: 7.5, vectorString: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H' },
          range: '<1.20.3',
        },
        {
          source: 1100000,
          name: 'body-parser',
          dependency: 'body-parser',
          title: 'a moderate one',
          url: 'https://github.com/advisories/GHSA-2222-3333-4444',
          severity: 'moderate',
          range: '<1.20.2',
        },
      ],
      effects: ['express'],
      range: '<1.20.3',
      nodes: ['node_modules/body-parser'],
      fixAvailable: true,
    },
    express: {
      name: 'express',
      severity: 'high',
      isDirect: true,
      via: ['body-parser'],
      effects: [],
      range: '<4.20.0',
      nodes: ['node_modules/express'],
      fixAvailable: true,
    },
    'form-data': {
      name: 'form-data',
      severity: 'critical',
      isDirect: false,
      via: [
        {
          source: 1106509,
          name: 'form-data',
          title: 'form-data uses unsafe random function',
          url: 'https://github.com/advisories/GHSA-fjxv-7rqg-78g4',
          severity: 'critical',
          range: '>=4.0.0 <4.0.4',
        },
      ],
      effects: [],
      range: '>=4.0.0 <4.0.4',
      nodes: ['node_modules/form-data'],
      fixAvailable: true,
    },
  },
  metadata: { vulnerabilities: { info: 0, low: 0, moderate: 0, high: 2, critical: 1, total: 3 } },
};

describe('the npm audit gate', () => {
  it('fails on each high and critical advisory, once per package, and not on moderate ones or on dependents', () => {
    const verdict = judgeAudit(auditFindings(report), []);
    expect(verdict.failing.map((f) => [f.id, f.packageName, f.severity])).toEqual([
      ['GHSA-qwcr-r2fm-qrc7', 'body-parser', 'high'],
      ['GHSA-fjxv-7rqg-78g4', 'form-data', 'critical'],
    ]);
    expect(formatAuditVerdict(verdict)[0]).toBe(
      'FAIL high GHSA-qwcr-r2fm-qrc7 in body-parser <1.20.3: body-parser vulnerable to denial of service when url encoding is enabled (https://github.com/advisories/GHSA-qwcr-r2fm-qrc7)',
    );
  });

  it('passes an advisory written down with its reason, and names exceptions no longer needed', () => {
    const verdict = judgeAudit(auditFindings(report), [
      { id: 'GHSA-qwcr-r2fm-qrc7', reason: 'only the test server parses url-encoded bodies' },
      { id: 'GHSA-fjxv-7rqg-78g4', reason: 'no multipart uploads' },
      { id: 'GHSA-9999-9999-9999', reason: 'fixed since' },
    ]);
    expect(verdict.failing).toEqual([]);
    expect(verdict.excepted.map((f) => [f.id, f.reason])).toEqual([
      ['GHSA-qwcr-r2fm-qrc7', 'only the test server parses url-encoded bodies'],
      ['GHSA-fjxv-7rqg-78g4', 'no multipart uploads'],
    ]);
    expect(formatAuditVerdict(verdict)).toContain('stale exception GHSA-9999-9999-9999: no longer reported; delete it from the exceptions file');
  });

  it('passes a report without advisories', () => {
    expect(auditFindings({ auditReportVersion: 2, vulnerabilities: {}, metadata: {} })).toEqual([]);
  });

  it('refuses to pass when npm could not reach the audit endpoint, and says what npm said', () => {
    const unreachable = {
      message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
      statusCode: 405,
      error: { summary: '', detail: '' },
    };
    expect(() => auditFindings(unreachable)).toThrow(AuditUnavailableError);
    expect(() => auditFindings(unreachable)).toThrow(/no report: 405 Method Not Allowed - POST https:\/\/registry\.npmjs\.org/);
    expect(() => auditFindings({ error: { code: 'ENOTFOUND', summary: 'request to https://registry.npmjs.org failed', detail: '' } })).toThrow(
      /request to https:\/\/registry\.npmjs\.org failed/,
    );
  });

  it('refuses an exception without a reason, and an advisory listed twice', () => {
    expect(() =>
      parseAuditExceptions([{ id: 'GHSA-qwcr-r2fm-qrc7' }, { id: 'GHSA-qwcr-r2fm-qrc7', reason: 'x' }, { id: 'GHSA-qwcr-r2fm-qrc7', reason: 'y' }]),
    ).toThrow(
      'invalid audit exceptions: entry 0: "reason" must say why the advisory is accepted; entry 1: GHSA-qwcr-r2fm-qrc7 is listed twice; entry 2: GHSA-qwcr-r2fm-qrc7 is listed twice',
    );
    expect(parseAuditExceptions([{ id: 'GHSA-qwcr-r2fm-qrc7', reason: 'why' }])).toEqual([{ id: 'GHSA-qwcr-r2fm-qrc7', reason: 'why' }]);
  });
});
