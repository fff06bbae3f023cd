// Starts GraphiQL on GET /graphql. Kept out of index.html so that the page runs under a CSP of
// script-src 'self'. The globals come from the scripts index.html loads before this one:
// React, ReactDOM (React 18 production UMD), graphqlWs (graphql-ws UMD), GraphiQL (graphiql UMD).
(function () {
  'use strict';

  // Queries and mutations go to POST /graphql with the headers typed in GraphiQL's headers
  // pane; subscriptions over the graphql-transport-ws protocol on /graphql/ws (same host, wss:
  // behind https). The WebSocket opens only when a subscription is run.
  var wsUrl = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/graphql/ws';
  var fetcher = GraphiQL.createFetcher({
    url: '/graphql',
    wsClient: graphqlWs.createClient({ url: wsUrl, lazy: true }),
  });

  // Full page (set through the CSSOM, which a CSP without style 'unsafe-inline' still allows).
  var root = document.getElementById('graphiql');
  document.documentElement.style.height = '100%';
  document.body.style.height = '100%';
  document.body.style.margin = '0';
  document.body.style.overflow = 'hidden';
  root.style.height = '100vh';
  root.textContent = '';

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      // Tokens typed in the headers pane stay in memory, never in localStorage.
      shouldPersistHeaders: false,
    }),
  );
})();
