/**
 * `npm run token -- --role operator|customer [--customer <id>]`: prints an access token for the
 * API from the stack's identity provider (the client credentials in IDENTITY_CLIENTS_FILE, default
 * `<STACK_DATA_DIR>/secrets/identity-clients.json`, which the provider writes as it starts), for `curl -H "Authorization: Bearer $(npm run -s token -- ...)"`
 * or Swagger UI's Authorize.
 */
import { parseArgs } from 'node:util';
import { AccessTokens, stackClientsFile, type TokenSubject } from '../platform/access-tokens.ts';
import { runCli } from '../platform/cli.ts';
import { ConfigError } from '../platform/config.ts';

const usage = 'usage: npm run token -- --role operator | --role customer --customer <customer id>';

runCli(async () => {
  const { values } = parseArgs({ options: { role: { type: 'string' }, customer: { type: 'string' } }, strict: true });
  let subject: TokenSubject;
  if (values.role === 'operator' && values.customer === undefined) subject = { role: 'operator' };
  else if (values.role === 'customer' && values.customer) subject = { role: 'customer', customerId: values.customer };
  else throw new ConfigError(usage);
  console.log(await AccessTokens.fromFile(stackClientsFile()).token(subject));
  return 0;
});
