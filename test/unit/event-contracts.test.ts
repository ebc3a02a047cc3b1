import { describe, expect, it } from 'vitest';
import { fieldsOfCause, readRecordedContracts, unrecordedChanges } from '../../src/messaging/contract-check.ts';
import { catalogVersions, eventSchemaDocument, subjectOf } from '../../src/messaging/event-schemas.ts';
import { eventTypes } from '../../src/domain/events.ts';

describe('event contracts', () => {
  it('records every type and version the catalog reads, each as the code generates it now', () => {
    const recorded = readRecordedContracts();
    expect(unrecordedChanges(recorded)).toEqual([]);
    expect(recorded.map((c) => c.subject).sort()).toEqual(
      catalogVersions()
        .map(({ type, version }) => subjectOf(type, version))
        .sort(),
    );
    expect(catalogVersions().length).toBe(eventTypes.length + 1);
  });

  it('reports a schema changed without being recorded, a version missing, and a recorded version the catalog dropped', () => {
    const recorded = readRecordedContracts();
    const changed = recorded.map((c) =>
      c.subject === subjectOf('payment.completed', 1) ? { ...c, schemas: [...c.schemas.slice(0, -1), { ...c.schemas.at(-1), title: 'older' }] } : c,
    );
    expect(unrecordedChanges(changed)).toEqual([
      expect.stringMatching(/^payment\.completed v1 differs from its last recorded schema: run `npm run contracts -- record`/),
    ]);
    const withoutV1 = recorded.filter((c) => c.subject !== subjectOf('order.placed', 1));
    expect(unrecordedChanges(withoutV1)).toEqual([expect.stringMatching(/^order\.placed v1 has no recorded contract/)]);
    const withV3 = [...recorded, { subject: subjectOf('order.placed', 3), type: 'order.placed' as const, version: 3, schemas: [] }];
    expect(unrecordedChanges(withV3)).toEqual([expect.stringMatching(/^order\.placed v3 is recorded but the catalog no longer reads it/)]);
  });

  it('describes a whole message: the envelope closed, its type and version fixed, the data of that version', () => {
    const v1 = eventSchemaDocument('order.placed', 1) as {
      properties: Record<string, { const?: unknown; properties?: object }>;
      additionalProperties: boolean;
    };
    expect(v1.additionalProperties).toBe(false);
    expect(v1.properties.type?.const).toBe('order.placed');
    expect(v1.properties.schemaVersion?.const).toBe(1);
    expect(Object.keys(v1.properties.data?.properties ?? {})).toEqual(['customerId', 'email', 'items', 'paymentRef', 'paymentToken']);
    const v2 = eventSchemaDocument('order.placed', 2) as typeof v1;
    expect(Object.keys(v2.properties.data?.properties ?? {})).toEqual(['customerId', 'email', 'items', 'payment']);
    expect(() => eventSchemaDocument('order.placed', 3)).toThrow(/order\.placed has no schema version 3/);
  });

  it("names the fields a cause of the registry's checker points at", () => {
    const recorded = [eventSchemaDocument('order.placed', 1)];
    expect(fieldsOfCause('/properties/data/properties/customerId', recorded, recorded[0]!)).toEqual(['data.customerId']);
    const withoutEmail = structuredClone(recorded[0]!) as { properties: { data: { properties: Record<string, unknown>; required: string[] } } };
    delete withoutEmail.properties.data.properties.email;
    withoutEmail.properties.data.required = withoutEmail.properties.data.required.filter((f) => f !== 'email');
    expect(fieldsOfCause('/properties/data/propertySchemasRemoved', recorded, withoutEmail)).toEqual(['data.email']);
    expect(fieldsOfCause('/properties/data/propertySchemasRemoved', recorded, recorded[0]!)).toEqual([]);
  });
});
