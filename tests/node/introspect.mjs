// Introspects the server as standard tooling does (graphql-js getIntrospectionQuery, with and
// without its options), rebuilds the schema with buildClientSchema and compares it with the SDL
// we publish. Prints a JSON report; exits 1 when any variant fails. Used by tests/api/scopes.rs.
//
// usage: node introspect.mjs <graphql url> <bearer token> <schema.graphql path>
import { readFileSync } from 'node:fs';
import {
  GraphQLSchema,
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  lexicographicSortSchema,
  printSchema,
} from 'graphql';

const [url, token, sdlPath] = process.argv.slice(2);
const published = printSchema(lexicographicSortSchema(buildSchema(readFileSync(sdlPath, 'utf8'))));

// Every option a server without experimental features supports (the experimental directive
// deprecation is not in the GraphQL specification).
const variants = {
  default: {},
  allOptions: {
    descriptions: true,
    specifiedByUrl: true,
    directiveIsRepeatable: true,
    schemaDescription: true,
    inputValueDeprecation: true,
    oneOf: true,
  },
};

const report = { ok: true, variants: {} };
for (const [name, options] of Object.entries(variants)) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: getIntrospectionQuery(options), operationName: 'IntrospectionQuery' }),
  });
  const body = await res.json();
  const out = { status: res.status, errors: body.errors ?? null };
  try {
    // async-graphql answers `__schema.description` with a fixed text about __Schema itself;
    // it is not part of the published SDL.
    const schema = new GraphQLSchema({ ...buildClientSchema(body.data).toConfig(), description: undefined });
    out.types = Object.keys(schema.getTypeMap()).filter((t) => !t.startsWith('__')).length;
    const rebuilt = printSchema(lexicographicSortSchema(schema));
    // Without `specifiedByUrl` the client cannot know a scalar's @specifiedBy.
    const expected = options.specifiedByUrl ? published : published.replace(/ @specifiedBy\(url: "[^"]*"\)/g, '');
    out.sameAsPublished = rebuilt === expected;
  } catch (e) {
    out.buildError = String(e);
  }
  out.ok = res.status === 200 && !body.errors && out.sameAsPublished === true;
  report.ok &&= out.ok;
  report.variants[name] = out;
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);

