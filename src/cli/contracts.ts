/**
 * `npm run contracts -- record`: records the catalog's event schemas in contracts/ (a schema that
 * changed is appended to its subject's file; commit it with the change).
 * `npm run contracts -- check`: checks them against every recorded schema with the schema registry
 * at SCHEMA_REGISTRY_URL (default: the stack's), and fails naming each incompatible event and field.
 * `npm test` runs both checks (test/unit/event-contracts.test.ts, test/integration/event-contracts.test.ts).
 */
import { incompatibleChanges, readRecordedContracts, recordContracts, unrecordedChanges } from '../messaging/contract-check.ts';
import { runCli } from '../platform/cli.ts';
import { ConfigError, SchemaRegistryEnv, loadConfig } from '../platform/config.ts';
import { Type } from 'typebox';

runCli(async ([command]) => {
  if (command === 'record') {
    const changed = recordContracts();
    console.log(changed.length > 0 ? `recorded: ${changed.join(', ')}` : 'nothing changed');
    return 0;
  }
  if (command === 'check') {
    const config = loadConfig(Type.Object(SchemaRegistryEnv));
    const recorded = readRecordedContracts();
    const problems = [...unrecordedChanges(recorded), ...(await incompatibleChanges({ url: config.SCHEMA_REGISTRY_URL, recorded }))];
    for (const problem of problems) console.error(problem);
    if (problems.length === 0) console.log(`${recorded.length} contracts compatible with every recorded schema`);
    return problems.length === 0 ? 0 : 1;
  }
  throw new ConfigError('usage: npm run contracts -- record | check');
});
