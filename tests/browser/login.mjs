// Logs in to the demo relying party by personal code in headless Chromium,
// as a person would: fills the form, reads the verification code off the
// page, waits while the phone approves, and checks the result page names
// the person. tests/tests/browser.rs runs it and plays the phone.
//
//   node login.mjs DEMO_URL COUNTRY PERSONAL_CODE EXPECTED_NAME SCREENSHOT.png
//
// Prints `verification-code NNNN` once the code is shown (the test compares
// it with the code the phone computes), then `screenshot PATH`, and exits 0;
// any failure prints why on stderr and exits 1.
//
// Debian's chromium, not a browser Playwright downloads: this workplace
// and CI install browsers only as distribution packages.

import { chromium } from 'playwright-core';

const [url, country, personalCode, expectedName, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: node login.mjs DEMO_URL COUNTRY PERSONAL_CODE EXPECTED_NAME SCREENSHOT.png');
  process.exit(2);
}

// Generous bounds so a broken page fails the test instead of hanging it;
// the phone side (a real DKG-backed signature) decides how long it takes.
const STEP_MS = 120_000;

const browser = await chromium.launch({
  executablePath: process.env.KAKSIK_CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
let failed = false;
try {
  // The server's TLS certificate is self-signed: Kaksik's own clients pin
  // its key, and a browser has no pin, so this one is told to proceed.
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1000, height: 900 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });

  await page.goto(url);
  await page.selectOption('#login-country', country);
  await page.fill('#login-personal-code', personalCode);
  await page.click('#login-submit');

  const code = (await page.locator('#verification-code').textContent()).trim();
  if (!/^[0-9]{4}$/.test(code)) throw new Error(`verification code "${code}" is not 4 digits`);
  console.log(`verification-code ${code}`);

  // The page polls its status every second and moves on by itself.
  await page.waitForURL(/\/demo\/login\/[0-9a-f]+\/result$/);
  const name = (await page.locator('#person-name').textContent()).trim();
  if (name !== expectedName) throw new Error(`the result page names "${name}", not "${expectedName}"`);
  if (errors.length > 0) throw new Error(`the page logged errors: ${errors.join('; ')}`);

  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot ${screenshot}`);
} catch (error) {
  failed = true;
  console.error(`browser test failed: ${error?.stack ?? error}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
