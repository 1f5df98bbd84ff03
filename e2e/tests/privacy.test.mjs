// The School Admin's data-protection tools in a real browser against `invigilator demo`: find a
// student, download their subject access export, erase them after the typed confirmation (their
// folders trashed in the demo's Drive), read what the next retention run would delete and what
// Invigilator holds, and give Invigilator's operator support access that opens the read API until
// it is revoked. axe-core runs on every page. This file runs last (the tests run in file order),
// so the erased student is missing from no other test's class.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BASE, launch, newPage, signIn, checkAccessibility, screenshots } from '../lib.mjs';

const ADMIN = 'b.adeyemi@riverside.example';
const SLUG = 'riverside';
const OPERATOR = 'Sam Carter';

let browser;
let admin;

before(async () => {
  browser = await launch();
  admin = await newPage(browser);
  await signIn(admin, ADMIN);
});

after(async () => {
  await browser?.close();
});

/// The demo operator's bearer token, as the demo printed it.
function operatorToken() {
  const log = readFileSync(new URL('../demo.log', import.meta.url), 'utf8');
  const found = log.match(/Authorization: Bearer ([A-Za-z0-9_-]+)/);
  assert.ok(found, 'the demo prints its support operator\'s token');
  return found[1];
}

test('the School Admin exports a student\'s data, then erases them after typing their address', async () => {
  await admin.goto(BASE + '/admin/privacy');
  await checkAccessibility(admin, 'data protection search');
  await admin.getByLabel('Name or email address').fill('y11.');
  await admin.getByRole('button', { name: 'Find' }).click();
  await screenshots(admin, 'privacy-search');
  const first = admin.locator('#students-title + ul a').first();
  const name = (await first.textContent()).trim();
  await first.click();
  await admin.getByRole('heading', { name: 'What we hold about them' }).waitFor();
  const email = (await admin.locator('dl.admin-facts dd').first().textContent()).split(', ').pop().trim();
  assert.match(email, /^y11\..+@riverside\.example$/);
  await checkAccessibility(admin, 'a student\'s data protection page');
  await screenshots(admin, 'privacy-student');

  // The download is a zip (the Rust tests check what is in it).
  const [download] = await Promise.all([
    admin.waitForEvent('download'),
    admin.getByRole('link', { name: 'Download their data' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /\.zip$/);
  const path = await download.path();
  assert.equal(readFileSync(path).subarray(0, 2).toString('latin1'), 'PK', 'a zip file');

  // Erasure: refused without the typed address, then done.
  await admin.getByRole('link', { name: 'Erase this student\'s records…' }).click();
  await admin.getByRole('heading', { name: `Erase ${name}?` }).waitFor();
  await checkAccessibility(admin, 'the erasure question');
  await screenshots(admin, 'privacy-erase');
  await admin.getByLabel('Move them to the Shared Drive\'s trash (Drive deletes them after 30 days)').check();
  await admin.getByRole('button', { name: `Erase ${name}` }).click();
  await admin.locator('[data-error-summary]').waitFor();
  await checkAccessibility(admin, 'the erasure question refused');
  await admin.getByLabel(/To confirm, type the student's/).fill(email.toUpperCase());
  await admin.getByRole('button', { name: `Erase ${name}` }).click();
  await admin.getByRole('heading', { name: `${name} has been erased` }).waitFor();
  await checkAccessibility(admin, 'erased');
  await screenshots(admin, 'privacy-erased');
  await admin.getByText(/portfolio folders? (was|were) moved to the Shared Drive's trash/).waitFor();

  // Nobody of that name is left to find.
  await admin.goto(BASE + '/admin/privacy?q=' + encodeURIComponent(email));
  await admin.getByText(`No student matches “${email}”.`).waitFor();
});

test('the retention preview says what the next daily run would delete', async () => {
  await admin.goto(BASE + '/admin/privacy');
  await admin.getByRole('link', { name: 'see what the next run will delete' }).click();
  await admin.waitForURL(BASE + '/admin/privacy/retention');
  await checkAccessibility(admin, 'retention preview');
  await screenshots(admin, 'privacy-retention');
});

test('what Invigilator holds lists every kind of record with how many the school holds', async () => {
  await admin.goto(BASE + '/admin/privacy');
  await admin.getByRole('link', { name: 'What Invigilator holds' }).click();
  await admin.waitForURL(BASE + '/admin/privacy/held');
  await admin.getByRole('heading', { name: 'The school\'s records' }).waitFor();
  const students = admin.getByRole('row').filter({ hasText: 'The students of the school\'s classes' });
  assert.match((await students.locator('td[data-label="Held now"]').textContent()).trim(), /^[1-9][0-9]*$/);
  await students.getByText(/^Its \d+ details$/).click();
  await students.getByText('email').first().waitFor();
  await checkAccessibility(admin, 'what Invigilator holds');
  await screenshots(admin, 'privacy-held');
});

test('support access opens the operator\'s reads until the School Admin revokes it', async () => {
  const token = operatorToken();
  const read = () => fetch(`${BASE}/api/support/${SLUG}/classes`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal((await read()).status, 403, 'no access by default');

  await admin.goto(BASE + '/admin/support');
  await checkAccessibility(admin, 'support access');
  await admin.getByLabel('Operator').selectOption({ label: OPERATOR });
  await admin.getByLabel('For how many hours').fill('0');
  await admin.getByLabel('Why').fill('Checking why 10G Geography will not lock');
  await admin.getByRole('button', { name: 'Grant access' }).click();
  await admin.locator('[data-error-summary]').waitFor();
  await admin.getByLabel('For how many hours').fill('2');
  await admin.getByRole('button', { name: 'Grant access' }).click();
  await admin.getByRole('heading', { name: 'Access now (1)' }).waitFor();
  await checkAccessibility(admin, 'support access granted');
  await screenshots(admin, 'support-granted');

  const granted = await read();
  assert.equal(granted.status, 200, 'the grant opens the read');
  assert.equal((await granted.json()).classes.length, 6, 'Riverside\'s six classes');

  await admin.getByRole('button', { name: `Revoke ${OPERATOR}'s access` }).click();
  const dialog = admin.getByRole('dialog');
  await dialog.getByRole('button', { name: 'Revoke access' }).click();
  await admin.getByRole('heading', { name: 'Access now (0)' }).waitFor();
  assert.equal((await read()).status, 403, 'revoked: refused again');

  // The School Admin finds the read in the audit log, under the operator's name.
  await admin.goto(BASE + '/audit');
  await admin.getByText(`${OPERATOR} (Invigilator operator)`).first().waitFor();
});
