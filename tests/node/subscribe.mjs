// The reference graphql-transport-ws client (graphql-ws on ws) subscribing to a ponto-bridge
// server: prints one JSON line per event — {"connected":true} once acknowledged, then
// {"next": result} per result, {"error": …} or {"complete": true} — and exits after `count`
// results, on error or completion, or after 60 s.
// Usage: node subscribe.mjs <ws url> <token> <query> [variables json] [count]
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, query, variables = '{}', count = '1'] = process.argv.slice(2);
const say = (v) => process.stdout.write(JSON.stringify(v) + '\n');
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
  lazy: false,
  on: { connected: () => say({ connected: true }) },
});
let seen = 0;
client.subscribe(
  { query, variables: JSON.parse(variables) },
  {
    next: (result) => {
      say({ next: result });
      if (++seen >= Number(count)) {
        client.dispose();
        process.exit(0);
      }
    },
    error: (e) => {
      say({ error: Array.isArray(e) ? e : String(e?.reason ?? e?.message ?? e), code: e?.code });
      process.exit(2);
    },
    complete: () => {
      say({ complete: true });
      process.exit(0);
    },
  },
);
setTimeout(() => {
  say({ timeout: true });
  process.exit(3);
}, 60_000);
