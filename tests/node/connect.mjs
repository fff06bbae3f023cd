// Drives Debian's Chromium through the Ponto connect flow: open our start URL, read the
// confirmation page and continue, log in at the sandbox as the given organization, switch on the
// given account sliders, allow, and report where the browser lands. Usage: node connect.mjs <startUrl> <organizationId> <returnOrigin> <accountId>...
import puppeteer from 'puppeteer-core';

const [startUrl, organization, returnOrigin, ...accounts] = process.argv.slice(2);
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage();
  // The accounting product's page is not reachable here: answer it in the browser.
  await page.setRequestInterception(true);
  page.on('request', (r) => {
    if (r.url().startsWith(returnOrigin)) {
      r.respond({ status: 200, contentType: 'text/html', body: '<p>back in the accounting product</p>' });
    } else {
      r.continue();
    }
  });
  await page.goto(startUrl, { waitUntil: 'domcontentloaded' });
  // Our confirmation page: who the accounts are shared with, then Continue.
  const confirmation = await page.$eval('#organization', (e) => e.textContent);
  const returnsTo = await page.$eval('#return-origin', (e) => e.textContent);
  await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('#continue')]);
  // Ponto's login: choose the organization.
  await page.select('select[name=organization]', organization);
  await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('button[type=submit]')]);
  // The sliders.
  for (const id of accounts) {
    await page.click(`input[name=account][value="${id}"]`);
  }
  await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('button[value=allow]')]);
  // Our callback redirects onwards; wait until the return URL is reached.
  await page.waitForFunction((o) => location.href.startsWith(o), { timeout: 15000 }, returnOrigin);
  const cookies = await browser.cookies();
  console.log(JSON.stringify({
    confirmation,
    returnsTo,
    finalUrl: page.url(),
    flowCookieLeft: cookies.some((c) => c.name === 'pb_oauth' && c.value),
  }));
} finally {
  await browser.close();
}
