import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../infra/stack/paths.ts';

/**
 * Who may run SQL on a schema's tables (DESIGN.md "Contexts and what they own"): each context
 * alone touches its tables; the read model belongs to the projections, the outbox and the
 * dedupe rows to messaging, the idempotency records to the API.
 */
const owners: Record<string, string> = {
  orders: 'src/contexts/orders/',
  inventory: 'src/contexts/inventory/',
  payments: 'src/contexts/payments/',
  notifications: 'src/contexts/notifications/',
  customers: 'src/contexts/customers/',
  read_model: 'src/projections/',
  messaging: 'src/messaging/',
  api: 'src/api/',
};

/** A schema's table named after a SQL keyword that reads or writes it. */
const tableReference = new RegExp(String.raw`\b(?:from|into|update|join|table|truncate|using)\s+(${Object.keys(owners).join('|')})\.\w+`, 'gi');

/** A SQL statement on a schema's tables in a file outside the schema's owner. */
interface Violation {
  file: string;
  schema: string;
  statement: string;
}

/**
 * The statements of `source` (the file `file`, relative to the project root, with `/`) on tables
 * of a schema that the file does not own. Only string and template literals are read, so a
 * comment or a doc that names a table is no statement.
 */
function scanSource(file: string, source: string): Violation[] {
  const violations: Violation[] = [];
  const visit = (node: ts.Node): void => {
    let text: string | undefined;
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) text = node.text;
    // A template with substitutions: its literal parts, joined where the substitutions were.
    else if (ts.isTemplateExpression(node)) text = [node.head.text, ...node.templateSpans.map((span) => span.literal.text)].join(' ? ');
    if (text !== undefined) {
      for (const match of text.matchAll(tableReference)) {
        const schema = match[1]!.toLowerCase();
        if (!file.startsWith(owners[schema]!)) violations.push({ file, schema, statement: text.replace(/\s+/g, ' ').trim() });
      }
      if (!ts.isTemplateExpression(node)) return;
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS));
  return violations;
}

/** Every `.ts` file under `dir` (relative to the project root), migrations excluded. */
function sourceFiles(dir: string): string[] {
  return readdirSync(join(projectRoot, dir), { recursive: true, encoding: 'utf8' })
    .map((path) => join(dir, path).split(sep).join('/'))
    .filter((path) => path.endsWith('.ts') && !path.split('/').includes('migrations'));
}

describe('SQL ownership', () => {
  it('keeps every statement on a schema’s tables in the folder that owns the schema', () => {
    const violations = sourceFiles('src').flatMap((file) => scanSource(file, readFileSync(join(projectRoot, file), 'utf8')));
    expect(violations.map((v) => `${v.file}: ${v.schema} table used by "${v.statement}"`)).toEqual([]);
  });

  it('names the file and the statement when a flow runs SQL on a context’s tables', () => {
    const source = "await tx.query('update orders.orders set cancel_requested_at = now() where order_id = $1', [orderId]);";
    expect(scanSource('src/choreography/order-commands.ts', source)).toEqual([
      { file: 'src/choreography/order-commands.ts', schema: 'orders', statement: 'update orders.orders set cancel_requested_at = now() where order_id = $1' },
    ]);
  });

  it('finds a statement split over a template with substitutions, and one reading another context’s tables', () => {
    const source = [
      'const column = "token";',
      'await tx.query(`insert into payments.payment_requests (order_id, ${column}) values ($1, $2)`, [orderId, value]);',
      "await tx.query('select email from notifications.recipients r join read_model.order_view v using (order_id)');",
    ].join('\n');
    expect(scanSource('src/contexts/orders/order-store.ts', source).map((v) => v.schema)).toEqual(['payments', 'notifications', 'read_model']);
  });

  it('allows a context’s statements in its own folder, and ignores tables named in comments', () => {
    const source =
      "// the sweeper used to run: update orders.review_deadlines set ...\nawait tx.query('select order_id from orders.review_deadlines where resolved_at is null');";
    expect(scanSource('src/contexts/orders/review-deadlines.ts', source)).toEqual([]);
    expect(scanSource('src/choreography/order-commands.ts', source)).toHaveLength(1);
  });

  it('holds the outbox to messaging and the read model to the projections', () => {
    expect(scanSource('src/observability/backlog-metrics.ts', "pool.query('select count(*) from messaging.outbox where sent_at is null')")).toHaveLength(1);
    expect(scanSource('src/projections/projector.ts', "pool.query('truncate read_model.order_view, read_model.order_timeline')")).toEqual([]);
    expect(scanSource('src/api/app.ts', "pool.query('select * from read_model.order_view where order_id = $1')")).toHaveLength(1);
  });
});
