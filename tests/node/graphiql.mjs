// Drives Debian's Chromium through our GraphiQL page: open <base>/graphql with every request to
// another origin aborted (and recorded), let GraphiQL start on a stored query of `{ __typename }`,
// run it with the execute button and read the result pane. Prints one JSON line
// { ok, result, blocked, consoleErrors } and exits 0 only when ok: the result names Query and
// nothing had to be blocked. With a token, it then types {"Authorization": "Bearer <token>"}
// into the headers editor, runs `subscription { events { type } }` (over /graphql/ws through the
// page's graphql-ws client) and waits for an event in the result pane (the caller keeps
// announcing some), reported as `subscription`. Gives up after 30 s with ok=false.
// Usage: node graphiql.mjs <base url> [token]
import puppeteer from 'puppeteer-core';

const [base, token] = process.argv.slice(2);
if (!base) {
  console.error('usage: node graphiql.mjs <base url>');
  process.exit(2);
}
const origin = new URL(base).origin;
const pageUrl = new URL('/graphql', origin).href;
const TIMEOUT_MS = 30_000;

// graphiql 4.x: its storage namespace is "graphiql"; "graphiql:query" is read at start when no
// query prop is given ("graphiql:tabState", left from an earlier visit, would add tabs to it).
const QUERY_KEY = 'graphiql:query';
const TABS_KEY = 'graphiql:tabState';
const QUERY = '{ __typename }';
const SUBSCRIPTION = 'subscription { events { type } }';
const SELECTORS = {
  queryEditor: '.graphiql-query-editor .CodeMirror',
  execute: 'button.graphiql-execute-button',
  result: '.graphiql-response .result-window',
};

const blocked = [];
const consoleErrors = [];
let result = '';
let browser;
let reported = false;

function finish(ok, extra = {}) {
  if (!reported) {
    reported = true;
    console.log(JSON.stringify({ ok, result, blocked, consoleErrors, ...extra }));
  }
  return ok ? 0 : 1;
}

async function run() {
  browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  await page.setRequestInterception(true);
  page.on('request', (r) => {
    const url = r.url();
    // data: and blob: URLs (the CSS's embedded fonts and icons) never leave the browser.
    if (url.startsWith('data:') || url.startsWith('blob:')) return r.continue();
    let o;
    try { o = new URL(url).origin; } catch { o = null; }
    if (o === origin) return r.continue();
    blocked.push(url);
    return r.abort('blockedbyclient');
  });
  await page.evaluateOnNewDocument((queryKey, tabsKey, query) => {
    try {
      localStorage.setItem(queryKey, query);
      localStorage.removeItem(tabsKey);
    } catch { /* a frame without storage */ }
  }, QUERY_KEY, TABS_KEY, QUERY);

  const response = await page.goto(pageUrl, { waitUntil: 'domcontentloaded' });
  if (!response || !response.ok()) {
    throw new Error(`GET ${pageUrl}: ${response ? response.status() : 'no response'}`);
  }
  await page.waitForSelector(SELECTORS.queryEditor, { visible: true });
  // The editor must have started on the seeded query (so the run below is that query).
  await page.waitForFunction((sel, q) => {
    const cm = document.querySelector(sel);
    return cm && cm.CodeMirror && cm.CodeMirror.getValue().trim() === q;
  }, { polling: 100 }, SELECTORS.queryEditor, QUERY);
  // The run must really reach POST /graphql (the result pane may already hold an earlier
  // response, e.g. that of a failed schema introspection).
  const executed = page.waitForResponse((r) => {
    const req = r.request();
    const u = new URL(r.url());
    if (req.method() !== 'POST' || u.origin !== origin || u.pathname !== '/graphql') return false;
    try {
      const body = JSON.parse(req.postData() || '{}');
      return body.operationName !== 'IntrospectionQuery' && String(body.query).trim() === QUERY;
    } catch {
      return false;
    }
  });
  await page.click(SELECTORS.execute);
  await executed;
  await page.waitForFunction((sel) => {
    const el = document.querySelector(sel);
    return el && el.innerText.includes('"__typename"');
  }, { polling: 100 }, SELECTORS.result);
  result = await page.$eval(SELECTORS.result, (el) => {
    // The response editor is CodeMirror 5: its value, not the rendered lines, is the JSON.
    const cm = el.querySelector('.CodeMirror');
    return cm && cm.CodeMirror ? cm.CodeMirror.getValue() : el.innerText;
  });
  if (!token) return finish(result.includes('Query') && blocked.length === 0);

  // The secondary editors are variables, then headers (CodeMirror 5 instances).
  await page.evaluate((sel, headers, subscription) => {
    const tools = document.querySelectorAll('.graphiql-editor-tool .CodeMirror');
    tools[tools.length - 1].CodeMirror.setValue(headers);
    document.querySelector(sel).CodeMirror.setValue(subscription);
  }, SELECTORS.queryEditor, JSON.stringify({ Authorization: `Bearer ${token}` }), SUBSCRIPTION);
  await page.click(SELECTORS.execute);
  await page.waitForFunction((sel) => {
    const el = document.querySelector(sel);
    return el && el.innerText.includes('connection.broken');
  }, { polling: 100 }, SELECTORS.result);
  const subscription = await page.$eval(SELECTORS.result, (el) => {
    const cm = el.querySelector('.CodeMirror');
    return cm && cm.CodeMirror ? cm.CodeMirror.getValue() : el.innerText;
  });
  return finish(result.includes('Query') && blocked.length === 0, { subscription });
}

let timer;
const timeout = new Promise((resolve) => {
  timer = setTimeout(() => resolve(finish(false, { error: `timed out after ${TIMEOUT_MS / 1000} s` })), TIMEOUT_MS);
});
const code = await Promise.race([
  run().catch((e) => finish(false, { error: String(e && e.message ? e.message : e) })),
  timeout,
]);
clearTimeout(timer);
// Closing can hang on a wedged browser: do not let it hold the exit code hostage.
await Promise.race([browser ? browser.close().catch(() => {}) : null, new Promise((r) => setTimeout(r, 5000))]);
process.exit(code);
