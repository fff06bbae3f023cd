// Starts GraphiQL on GET /graphql. Kept out of index.html so that the page runs under a CSP of
// script-src 'self'. The globals come from the scripts index.html loads before this one:
// React, ReactDOM (React 18 production UMD), GraphiQL (graphiql UMD), graphqlWs (graphql-ws UMD).
(function () {
  'use strict';

  // Queries and mutations go to POST /graphql with the headers typed in GraphiQL's headers
  // pane; subscriptions to /graphql/ws (graphql-transport-ws), those headers becoming the
  // connection_init payload ({"Authorization": "Bearer …"}). One connection per subscription,
  // closed when GraphiQL stops listening.
  var http = GraphiQL.createFetcher({ url: '/graphql' });
  var wsUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql/ws';

  // The type of the operation GraphiQL runs, read from the query text itself (the document AST
  // GraphiQL passes along can lag behind the editor): strings and comments dropped, the
  // operation named `operationName`, or else the first top-level definition not a fragment.
  function operationType(query, name) {
    var text = String(query || '').replace(/"""[\s\S]*?"""|"(?:\\.|[^"\\\n])*"|#[^\n\r]*/g, ' ');
    var tokens = text.match(/[{}]|[_A-Za-z][_0-9A-Za-z]*/g) || [];
    var depth = 0;
    var inFragment = false;
    for (var i = 0; i < tokens.length; i++) {
      var t = tokens[i];
      if (t === '{') {
        if (depth === 0 && !inFragment && !name) return 'query';
        depth++;
      } else if (t === '}') {
        depth--;
        if (depth === 0) inFragment = false;
      } else if (depth === 0 && t === 'fragment') {
        inFragment = true;
      } else if (depth === 0 && !inFragment && /^(query|mutation|subscription)$/.test(t)) {
        if (!name || tokens[i + 1] === name) return t;
      }
    }
    return 'query';
  }

  function fetcher(params, opts) {
    if (operationType(params.query, params.operationName) !== 'subscription') {
      return http(params, opts);
    }
    var client = graphqlWs.createClient({
      url: wsUrl,
      connectionParams: (opts && opts.headers) || {},
      retryAttempts: 0,
    });
    var results = client.iterate({
      query: params.query,
      variables: params.variables,
      operationName: params.operationName,
    });
    return {
      next: function () { return results.next(); },
      return: function () {
        client.dispose();
        return results.return ? results.return() : Promise.resolve({ done: true, value: undefined });
      },
      throw: function (e) { client.dispose(); return Promise.reject(e); },
      [Symbol.asyncIterator]: function () { return this; },
    };
  }

  // Header values (bearer tokens) must never reach localStorage. shouldPersistHeaders=false keeps
  // them out of "graphiql:headers" and the tabs, but the history plugin still writes each run's
  // headers into "graphiql:queries" (and "graphiql:favorites"): this storage strips them there.
  var PREFIX = 'graphiql:';
  function withoutHeaders(value, listKey, field) {
    try {
      var parsed = JSON.parse(value);
      var list = parsed && parsed[listKey];
      if (!Array.isArray(list)) return value;
      list.forEach(function (item) {
        if (item && typeof item === 'object') {
          if (field === 'delete') delete item.headers; else item.headers = null;
        }
      });
      return JSON.stringify(parsed);
    } catch (e) {
      return null;
    }
  }
  var storage = {
    getItem: function (key) { return localStorage.getItem(key); },
    setItem: function (key, value) {
      if (key === PREFIX + 'headers') return;
      if (key === PREFIX + 'queries') value = withoutHeaders(value, 'queries', 'delete');
      else if (key === PREFIX + 'favorites') value = withoutHeaders(value, 'favorites', 'delete');
      else if (key === PREFIX + 'tabState') value = withoutHeaders(value, 'tabs', 'null');
      if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, value);
    },
    removeItem: function (key) { localStorage.removeItem(key); },
    clear: function () {
      Object.keys(localStorage).forEach(function (key) {
        if (key.indexOf(PREFIX) === 0) localStorage.removeItem(key);
      });
    },
    get length() {
      return Object.keys(localStorage).filter(function (key) { return key.indexOf(PREFIX) === 0; }).length;
    },
  };
  // Drop what an earlier version of this page may have left.
  storage.removeItem(PREFIX + 'headers');
  ['queries', 'favorites', 'tabState'].forEach(function (name) {
    var v = localStorage.getItem(PREFIX + name);
    if (v !== null) storage.setItem(PREFIX + name, v);
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
      storage: storage,
      // Tokens typed in the headers pane stay in memory only.
      shouldPersistHeaders: false,
    }),
  );
})();
