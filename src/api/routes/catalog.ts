import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
// The types of the decorators the routes use (declaration merging on FastifyInstance).
import type {} from '../repositories.ts';
import { Problem } from '../schemas.ts';

const CatalogResponse = Type.Object({
  items: Type.Array(
    Type.Object({
      sku: Type.String(),
      name: Type.String(),
      priceCents: Type.Integer({ minimum: 0 }),
      currency: Type.String(),
      stock: Type.Integer({ minimum: 0, description: 'on hand now, reservations taken off' }),
    }),
  ),
});

/** The catalog: what an order may name, at which price (prices always come from here). */
export const catalogRoutes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  app.get(
    '/catalog',
    {
      schema: {
        operationId: 'listCatalog',
        summary: 'Every product, by SKU, with its price and stock',
        tags: ['catalog'],
        response: { 200: CatalogResponse, 500: Problem, 503: Problem, 504: Problem },
      },
      config: { access: ['customer', 'operator'] },
    },
    async () => ({ items: await app.catalog.list() }),
  );
  done();
};
