// The exams officer, the heads and the School Admin in a real browser against `invigilator
// demo`: an officer schedules a window a few seconds ahead and the teacher watches their class
// lock, is refused an unlock and told why; the officer lets one student out with a reason; the
// audit log shows it all and its chain verifies; the Headteacher sees the whole school and
// cannot change settings; the new school's admin walks the set-up checklist to green and adds a
// year rule. axe-core runs on every page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, newPage, signIn, checkAccessibility, screenshots, driveAccess } from '../lib.mjs';

const OFFICER = 'g.whitfield@riverside.example';
const TEACHER = 'd.hughes@riverside.example';
const HEAD = 'h.marsh@riverside.example';
const NEW_ADMIN = 'r.shah@northfield.example';
const NEW_DRIVE = '0ANorthfieldPortfolios';
const CLASS = '11C Computer Science';
const WINDOW = 'Computing mock, paper 1';
const REASON = 'Access arrangement: 25% extra time';

/// `date` as a `datetime-local` value in UK time, to the second.
function ukLocal(date) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Europe/London', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
    }).formatToParts(date).map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}`;
}

/// Sets a `datetime-local` input to a value with seconds (typing cannot reach the seconds when
/// the field shows minutes only).
async function setTime(page, label, value) {
  await page.getByLabel(label, { exact: true }).evaluate((input, v) => { input.value = v; }, value);
}

/// Waits until the class page's progress line reads exactly "n of 30 locked".
async function progressIs(page, n, timeout = 90000) {
  await page.waitForFunction(
    (text) => document.querySelector('[data-progress-text]')?.textContent === text,
    `${n} of 30 locked`,
    { timeout },
  );
}

let browser;
let officer;
let teacher;
let classUrl;

before(async () => {
  browser = await launch();
  officer = await newPage(browser);
  teacher = await newPage(browser);
});

after(async () => {
  await browser?.close();
});

test('an officer previews and schedules a window a few seconds ahead; the teacher watches the class lock', async () => {
  await signIn(officer, OFFICER);
  await officer.getByRole('link', { name: 'Assessment windows' }).first().click();
  await officer.getByRole('heading', { level: 1, name: 'Assessment windows' }).waitFor();
  await checkAccessibility(officer, 'windows list');
  await screenshots(officer, 'windows');
  await officer.getByRole('link', { name: 'Schedule a window' }).click();
  await officer.getByRole('heading', { level: 1 }).waitFor();
  await checkAccessibility(officer, 'new window form');

  // Nothing typed but the name: the form comes back with the errors beside the fields, the
  // name kept.
  await officer.getByLabel('Name', { exact: true }).fill(WINDOW);
  await officer.getByRole('button', { name: 'Preview' }).click();
  await officer.getByRole('heading', { name: 'There is a problem' }).waitFor();
  assert.equal(await officer.getByLabel('Name', { exact: true }).inputValue(), WINDOW);
  await checkAccessibility(officer, 'new window form with errors');
  await screenshots(officer, 'window-errors');

  const start = new Date(Date.now() + 25000);
  await setTime(officer, 'Starts', ukLocal(start));
  await setTime(officer, 'Ends', ukLocal(new Date(start.getTime() + 20 * 60000)));
  await officer.getByLabel(CLASS, { exact: true }).check();
  await officer.getByRole('button', { name: 'Preview' }).click();
  const preview = officer.getByRole('region', { name: 'Preview: what this window will lock' });
  await preview.waitFor();
  await preview.getByText(CLASS).first().waitFor();
  await checkAccessibility(officer, 'new window preview');
  await screenshots(officer, 'window-preview');
  await officer.getByRole('button', { name: 'Schedule window' }).last().click();
  await officer.getByRole('heading', { level: 1, name: WINDOW }).waitFor();
  await checkAccessibility(officer, 'window page');
  await screenshots(officer, 'window');

  await signIn(teacher, TEACHER);
  await teacher.getByRole('link', { name: CLASS }).click();
  await teacher.getByRole('heading', { level: 1, name: CLASS }).waitFor();
  classUrl = teacher.url();
  // The start comes while the page is open: the rows lock live, without a reload.
  await progressIs(teacher, 30);
  await teacher.getByText(WINDOW).first().waitFor();
});

test('during the window the teacher cannot unlock, and the page says why', async () => {
  await teacher.reload();
  await progressIs(teacher, 30);
  assert.equal(await teacher.getByRole('button', { name: 'Unlock the class' }).count(), 0);
  assert.equal(await teacher.getByRole('button', { name: /^Unlock/ }).count(), 0, 'no student can be unlocked');
  const row = teacher.locator('tr[data-row]').first();
  await row.getByText(/Held by an assessment window/).waitFor();
  await row.getByText(/Only an Examinations Officer can let one student out/).waitFor();
  await checkAccessibility(teacher, 'class page during a window');
  await screenshots(teacher, 'class-in-window');
});

test('the officer lets one student out with a reason; the teacher sees them unlocked', async () => {
  await officer.goto(classUrl);
  const row = officer.locator('tr[data-row]').first();
  const portfolio = await row.getAttribute('data-portfolio');
  const email = (await row.locator('.email').textContent()).trim();
  const folder = (await row.getByRole('link', { name: /Open in Drive/ }).getAttribute('href')).split('/').pop();
  assert.equal((await driveAccess(folder, email)).role, 'reader');
  await row.getByRole('link', { name: /Let out of this window/ }).click();
  await officer.getByRole('heading', { level: 1, name: /out of the window/ }).waitFor();
  // No reason: refused beside the field, nothing done.
  await officer.getByRole('button', { name: /^Let .* out$/ }).click();
  await officer.getByRole('heading', { name: 'There is a problem' }).waitFor();
  await checkAccessibility(officer, 'let out form with an error');
  await screenshots(officer, 'let-out-error');
  assert.equal((await driveAccess(folder, email)).role, 'reader');

  await officer.getByLabel('Reason').fill(REASON);
  await officer.getByRole('button', { name: /^Let .* out$/ }).click();
  await officer.waitForURL((url) => url.href.startsWith(classUrl));
  const mine = teacher.locator(`tr[data-portfolio="${portfolio}"]`);
  await mine.and(teacher.locator('[data-state="unlocked"]')).waitFor({ timeout: 30000 });
  await progressIs(teacher, 29);
  assert.equal((await driveAccess(folder, email)).role, 'writer');
});

test('the audit log shows the window and the let-out with its reason, and the chain verifies', async () => {
  const head = await newPage(browser);
  await signIn(head, HEAD);
  await head.getByRole('link', { name: 'Audit log' }).click();
  await head.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
  // The newest page is the window's thirty locks; each kind of entry is found by its filter,
  // and a filter lists only its kind.
  for (const what of ['Assessment window scheduled', 'Assessment window started', 'Student let out of an assessment window']) {
    await head.getByLabel('What').selectOption({ label: what });
    await head.getByRole('button', { name: 'Filter' }).click();
    await head.getByRole('cell', { name: what }).first().waitFor();
    const kinds = await head.locator('td[data-label="What"]').allTextContents();
    assert.ok(kinds.length > 0 && kinds.every((k) => k.trim() === what), `${what}: ${kinds}`);
  }
  await head.getByText(REASON).first().waitFor();
  await checkAccessibility(head, 'audit log');
  await screenshots(head, 'audit');

  await head.getByRole('button', { name: 'Verify the chain' }).click();
  await head.getByText(/entries are intact/).waitFor();
  await checkAccessibility(head, 'audit log verified');
  await head.context().close();
});

test('the Headteacher sees every class at a glance and cannot change settings', async () => {
  const head = await newPage(browser);
  await signIn(head, HEAD);
  await head.getByRole('link', { name: 'Whole school' }).click();
  await head.getByRole('heading', { level: 1, name: 'Whole school' }).waitFor();
  await head.getByRole('link', { name: CLASS }).waitFor();
  const row = head.locator('tr', { has: head.getByRole('link', { name: CLASS }) });
  await row.getByText(WINDOW).waitFor();
  // Filtered to Year 10, the Year 11 class is not listed.
  await head.getByLabel('Year').selectOption({ label: 'Year 10' });
  await head.getByRole('button', { name: 'Filter' }).click();
  await head.getByRole('link', { name: '10C Computer Science' }).waitFor();
  assert.equal(await head.getByRole('link', { name: CLASS }).count(), 0);
  await checkAccessibility(head, 'whole school');
  await screenshots(head, 'school');

  assert.equal(await head.getByRole('link', { name: 'School set-up' }).count(), 0, 'no link to settings');
  for (const path of ['/admin/settings', '/setup', '/admin/people']) {
    const response = await head.goto(BASE + path);
    assert.equal(response.status(), 403, path);
    await head.getByRole('heading', { name: 'You cannot do that' }).waitFor();
  }
  await checkAccessibility(head, 'forbidden page');
  await head.context().close();
});

/// The status word of one step of the set-up checklist ("Done", "Needs doing"…).
async function stepStatus(page, key) {
  const text = await page.locator(`#step-${key} .step-status`).textContent();
  return text.replace(/^\W+/, '').trim();
}

test('a new school\'s School Admin walks the set-up checklist to green and adds a year rule', async () => {
  const admin = await newPage(browser);
  await signIn(admin, NEW_ADMIN);
  // A new school's admin lands on the checklist.
  assert.equal(new URL(admin.url()).pathname, '/setup');
  await admin.getByRole('heading', { level: 1, name: 'School set-up' }).waitFor();
  await admin.getByText(/of 6 steps done/).waitFor();
  await checkAccessibility(admin, 'set-up checklist, new school');
  await screenshots(admin, 'setup-new');

  // 1. The Drive account: through Google's consent, back to the checklist.
  await admin.getByRole('button', { name: "Connect the school's Drive account" }).click();
  await admin.getByRole('heading', { name: 'Choose an account' }).waitFor();
  const form = admin.locator('form', { has: admin.locator('h2', { hasText: NEW_ADMIN }) });
  await form.getByRole('button', { name: 'Continue' }).click();
  await admin.waitForURL((url) => url.href.startsWith(BASE) && url.pathname === '/setup');

  // 2. The Shared Drive: a wrong id is refused beside the field and kept; the right one saved.
  await admin.getByRole('link', { name: 'Settings' }).first().click();
  await admin.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
  await admin.getByLabel('Shared Drive id').fill('0ANoSuchDrive');
  await admin.getByRole('button', { name: 'Save settings' }).click();
  await admin.getByRole('heading', { name: 'There is a problem' }).waitFor();
  assert.equal(await admin.getByLabel('Shared Drive id').inputValue(), '0ANoSuchDrive');
  await checkAccessibility(admin, 'settings with an error');
  await screenshots(admin, 'settings-error');
  await admin.getByLabel('Shared Drive id').fill(NEW_DRIVE);
  await admin.getByRole('button', { name: 'Save settings' }).click();
  await admin.getByText('Northfield Portfolios').first().waitFor();

  // 3. The first sync, from the checklist (unless the sync timer has got there first).
  await admin.goto(BASE + '/setup');
  if ((await stepStatus(admin, 'sync')) !== 'Done') {
    await admin.getByRole('button', { name: 'Sync now' }).click();
    await admin.getByRole('heading', { level: 1, name: 'School set-up' }).waitFor();
  }
  for (let i = 0; i < 60 && (await stepStatus(admin, 'sync')) !== 'Done'; i += 1) {
    await admin.waitForTimeout(1000);
    await admin.reload();
  }
  assert.equal(await stepStatus(admin, 'sync'), 'Done');

  // 4. The rules: a subject rule, then a year rule previewed and seen applied to its class.
  await admin.getByRole('link', { name: 'Subjects and years' }).first().click();
  await admin.getByRole('heading', { level: 1, name: 'Subjects and years' }).waitFor();
  await admin.getByLabel('Pattern').first().fill('%English%');
  await admin.getByLabel('Subject', { exact: true }).first().fill('English');
  await admin.getByRole('button', { name: 'Add subject rule' }).click();
  await admin.getByRole('heading', { level: 1, name: 'Subjects and years' }).waitFor();
  const yearPattern = admin.locator('#year-pattern');
  await yearPattern.fill('9%');
  await admin.locator('#year-year_group').selectOption('9');
  // The live preview names the classes the rule would catch before anything is saved.
  const preview = admin.locator('[data-preview-target]').last();
  await preview.getByText('9E English').waitFor();
  await preview.getByText('9H History').waitFor();
  await checkAccessibility(admin, 'rules with a live preview');
  await screenshots(admin, 'rules-preview');
  await admin.getByRole('button', { name: 'Add year rule' }).click();
  const classes = admin.getByRole('region', { name: 'Classes and where they are' });
  const english = classes.locator('tr', { hasText: '9E English' });
  await english.locator('td[data-label="Year"] strong', { hasText: 'Year 9' }).waitFor();
  await english.locator('td[data-label="Subject"] strong', { hasText: 'English' }).waitFor();
  await checkAccessibility(admin, 'rules applied');

  // 5. The staff addresses, from the checklist's link to the settings.
  await admin.getByRole('link', { name: 'Checklist' }).click();
  await admin.getByRole('link', { name: 'Set the staff addresses' }).click();
  await admin.getByLabel('Staff addresses').fill('?.*@northfield.example');
  await admin.getByRole('button', { name: 'Save settings' }).click();
  await admin.getByText('?.*@northfield.example').first().waitFor();

  // Every step done.
  await admin.getByRole('link', { name: 'Checklist' }).click();
  await admin.getByText('6 of 6 steps done.').waitFor();
  await checkAccessibility(admin, 'set-up checklist, done');
  await screenshots(admin, 'setup-done');
  await admin.context().close();
});
