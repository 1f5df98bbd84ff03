// What every browser test shares: Debian's Chromium through playwright-core (never a
// downloaded browser), signing in through the emulator's account chooser as a person would,
// axe-core on each page, and screenshots at desktop and phone widths.
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const BASE = process.env.BASE_URL || 'http://localhost:18080';
export const GOOGLE = process.env.GOOGLE_URL || 'http://127.0.0.1:18090';
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = new URL('./screenshots/', import.meta.url);
mkdirSync(SHOTS, { recursive: true });

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/// A fresh browser context (its own cookies) on a desktop-sized window.
export async function newPage(browser, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport, locale: 'en-GB' });
  const page = await context.newPage();
  page.on('pageerror', (e) => { throw new Error('script error on ' + page.url() + ': ' + e.message); });
  return page;
}

/// Signs `email` in: "Sign in with Google", then that account on the emulator's chooser.
export async function signIn(page, email) {
  await page.goto(BASE + '/');
  await page.getByRole('link', { name: 'Sign in with Google' }).click();
  await page.getByRole('heading', { name: 'Choose an account' }).waitFor();
  const form = page.locator('form', { has: page.locator('h2', { hasText: email }) });
  await form.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL((url) => url.href.startsWith(BASE) && !url.pathname.startsWith('/auth/'));
}

/// Runs axe-core on the page; fails on any serious or critical violation.
export async function checkAccessibility(page, name) {
  // Evaluated through the DevTools protocol, so our CSP (no inline script) stays on.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${name}: accessibility violations\n${JSON.stringify(bad, null, 2)}`);
  return result;
}

/// Saves the page at desktop width and at phone width.
export async function screenshots(page, name) {
  const size = page.viewportSize();
  await page.screenshot({ path: new URL(`${name}-desktop.png`, SHOTS).pathname, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: new URL(`${name}-phone.png`, SHOTS).pathname, fullPage: true });
  await page.setViewportSize(size);
}

/// What the emulator's Drive says `email` may do with folder `folder`.
export async function driveAccess(folder, email) {
  const r = await fetch(`${GOOGLE}/emulator/files/${encodeURIComponent(folder)}/access/${encodeURIComponent(email)}`);
  assert.equal(r.status, 200, 'the emulator knows the folder');
  return r.json();
}
