import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
// The types of the decorators the routes use (declaration merging on FastifyInstance).
import type {} from '../repositories.ts';
import { Problem, Text } from '../schemas.ts';

const tags = ['customers'];

/**
 * The customers resource: erasure of a customer's personal data (operators), by crypto-shredding:
 * the customer's key is deleted, so its email, sealed with that key in every event, workflow
 * history and table it was copied to, can no longer be read. Orders, amounts and statuses stay.
 */
export const customerRoutes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  app.delete(
    '/customers/:id/personal-data',
    {
      schema: {
        operationId: 'erasePersonalData',
        summary: "Erases a customer's personal data: its key is deleted, and every copy of its email becomes unreadable",
        tags,
        params: Type.Object({ id: Text({ minLength: 1, maxLength: 100 }) }),
        response: {
          200: Type.Object({
            customerId: Type.String(),
            keysDeleted: Type.Integer({ description: 'keys deleted by this call: 0 when the customer had none left (erased before, or never ordered)' }),
            erasedAt: Type.String({ format: 'date-time' }),
          }),
          400: Problem,
          500: Problem,
          503: Problem,
          504: Problem,
        },
      },
      config: { access: ['operator'], ifUnavailable: 'the erasure may not have happened; send it again (erasing twice is harmless)' },
    },
    async (request) => {
      const { id } = request.params;
      const { keysDeleted, erasedAt } = await app.personalData.erase(id);
      request.log.info({ customerId: id, keysDeleted }, 'personal data erased');
      return { customerId: id, keysDeleted, erasedAt: erasedAt.toISOString() };
    },
  );
  done();
};
