// The teachers' dashboard in a real browser against `invigilator demo`: sign in through the
// account chooser, lock one student and a whole class and watch it happen without reloading,
// and check that a teacher never sees another teacher's class. axe-core runs on every page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, newPage, signIn, checkAccessibility, screenshots, driveAccess } from '../lib.mjs';

const TEACHER = 'd.hughes@riverside.example';
const OTHER_TEACHER = 'p.natarajan@riverside.example';
const CLASS = '10C Computer Science';

/// Waits until the progress line reads exactly "n of 30 locked".
async function progressIs(n, timeout = 60000) {
  await page.waitForFunction(
    (text) => document.querySelector('[data-progress-text]')?.textContent === text,
    `${n} of 30 locked`,
    { timeout },
  );
}

let browser;
let page;
let classUrl;

before(async () => {
  browser = await launch();
  page = await newPage(browser);
});

after(async () => {
  await browser?.close();
});

test('a teacher signs in through the account chooser and lands on their classes', async () => {
  await page.goto(BASE + '/');
  await checkAccessibility(page, 'sign-in page');
  await screenshots(page, 'sign-in');
  await signIn(page, TEACHER);
  assert.equal(new URL(page.url()).pathname, '/classes');
  await page.getByRole('heading', { level: 1, name: 'My classes' }).waitFor();
  await page.getByRole('link', { name: CLASS }).waitFor();
  await checkAccessibility(page, 'my classes');
  await screenshots(page, 'classes');

  // Typing narrows the list at once.
  await page.getByLabel('Search by class name').fill('geog');
  await page.getByRole('link', { name: '10G Geography' }).waitFor();
  assert.equal(await page.getByRole('link', { name: CLASS }).isVisible(), false);
  await page.getByLabel('Search by class name').fill('');
});

test('locking one student shows "Locked" without a reload, and Drive makes them a reader', async () => {
  await page.getByRole('link', { name: CLASS }).click();
  await page.getByRole('heading', { level: 1, name: CLASS }).waitFor();
  classUrl = page.url();
  await progressIs(0);
  await checkAccessibility(page, 'class page');
  await screenshots(page, 'class');

  const row = page.locator('tr[data-state="unlocked"]').first();
  const portfolio = await row.getAttribute('data-portfolio');
  const email = (await row.locator('.email').textContent()).trim();
  const folder = (await row.getByRole('link', { name: /Open in Drive/ }).getAttribute('href')).split('/').pop();
  assert.equal((await driveAccess(folder, email)).role, 'writer');

  let posts = 0;
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url().endsWith(`/api/portfolios/${portfolio}/lock`)) posts += 1;
  });
  // A double click makes one request.
  await row.getByRole('button', { name: /^Lock/ }).dblclick();
  const mine = page.locator(`tr[data-portfolio="${portfolio}"]`);
  await mine.and(page.locator('[data-state="locked"]')).waitFor({ timeout: 30000 });
  await mine.getByText('Locked', { exact: true }).waitFor();
  assert.equal(posts, 1, 'one request for a double click');
  assert.equal((await driveAccess(folder, email)).role, 'reader');
  await progressIs(1);

  await mine.getByRole('link', { name: /History/ }).click();
  await page.getByText('Locked in Drive').first().waitFor();
  await checkAccessibility(page, 'history page');
  await screenshots(page, 'history');
  await page.goBack();
});

test('locking the class fills the progress bar to 30 of 30; unlocking empties it', async () => {
  await page.goto(classUrl);
  await page.getByRole('button', { name: 'Lock the class', exact: true }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await checkAccessibility(page, 'class lock confirmation');
  await dialog.getByRole('button', { name: 'Lock 30 folders' }).click();
  await progressIs(30);
  assert.equal(await page.locator('progress').evaluate((p) => p.value), 30);
  await page.getByText(/Done: 30 of 30 folders/).waitFor();
  await checkAccessibility(page, 'class page, locked');
  await screenshots(page, 'class-locked');

  await page.getByRole('button', { name: 'Unlock the class' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Unlock 30 folders' }).click();
  // "Unlocking…" rows already count as not locked: wait until Drive has done every one.
  await page.waitForFunction(
    () => document.querySelectorAll('tr[data-state="unlocked"]').length === 30,
    null,
    { timeout: 60000 },
  );
  await progressIs(0);
});

test('a teacher does not see another teacher\'s class', async () => {
  const other = await newPage(browser);
  await signIn(other, OTHER_TEACHER);
  await other.getByRole('heading', { level: 1, name: 'My classes' }).waitFor();
  assert.equal(await other.getByRole('link', { name: CLASS }).count(), 0);
  const response = await other.goto(classUrl);
  assert.equal(response.status(), 404);
  await other.getByRole('heading', { name: 'Page not found' }).waitFor();
  await checkAccessibility(other, 'not found page');
  await screenshots(other, 'not-found');
  await other.context().close();
});

test('a form sent with an old token is refused with a page that says to reload', async () => {
  await page.goto(classUrl);
  await page.locator('form.sign-out input[name="csrf_token"]').evaluate((i) => { i.value = 'stale'; });
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'This page has expired' }).waitFor();
  await checkAccessibility(page, 'expired page');
});
