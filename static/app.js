// Invigilator's one script: the class list's filter as you type, and on a class page the lock
// buttons and the live view. Every state's wording comes from the server (the rows are fetched
// again when the live stream says something changed), so nothing here decides what a state means.
'use strict';

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]');
  const csrfToken = csrf ? csrf.getAttribute('content') : '';

  // ---- My classes: narrow the list as you type --------------------------------------------
  const filterForm = document.querySelector('[data-class-filter]');
  if (filterForm) {
    const input = filterForm.querySelector('input[name="q"]');
    const cards = Array.from(document.querySelectorAll('.class-card'));
    const count = document.getElementById('class-count');
    const total = count ? count.textContent.replace(/^.* of /, '') : '';
    input.addEventListener('input', function () {
      const q = input.value.trim().toLowerCase();
      let shown = 0;
      cards.forEach(function (card) {
        const match = !q || card.dataset.search.indexOf(q) !== -1;
        card.hidden = !match;
        if (match) shown += 1;
      });
      if (count) count.textContent = shown + ' of ' + total;
    });
  }

  // ---- Any form shown again with its errors: the summary first, so it is read out ----------
  const errorSummary = document.querySelector('[data-error-summary]');
  if (errorSummary) errorSummary.focus();

  // ---- A class --------------------------------------------------------------------------------
  const page = document.querySelector('[data-class-page]');
  if (!page) return;
  const classId = page.dataset.classId;
  const className = page.dataset.className;
  const body = page.querySelector('[data-rows]');
  const status = page.querySelector('[data-messages]');
  const alerts = page.querySelector('[data-alerts]');
  const progress = page.querySelector('[data-progress]');
  const progressText = page.querySelector('[data-progress-text]');
  const pendingText = page.querySelector('[data-pending-text]');
  const dialog = page.querySelector('[data-confirm]');
  let classRequestPending = false;

  function say(region, text, problem) {
    region.replaceChildren();
    if (!text) return;
    const p = document.createElement('p');
    p.className = problem ? 'message problem' : 'message';
    p.textContent = text;
    region.appendChild(p);
  }

  function rows() {
    return Array.from(body.querySelectorAll('tr[data-row]'));
  }

  function updateProgress() {
    const all = rows();
    const locked = all.filter(function (r) { return r.dataset.state === 'locked'; }).length;
    const moving = all.filter(function (r) {
      return r.dataset.state === 'locking' || r.dataset.state === 'unlocking';
    }).length;
    progress.max = all.length;
    progress.value = locked;
    progress.textContent = locked + ' of ' + all.length;
    progressText.textContent = locked + ' of ' + all.length + ' locked';
    pendingText.textContent = moving > 0 ? ' · ' + moving + ' in progress' : '';
    if (classRequestPending && moving === 0) {
      classRequestPending = false;
      say(status, 'Done: ' + locked + ' of ' + all.length + ' folders in ' + className + ' are locked.');
    }
  }

  // Brings the rows up to date from the server, replacing only rows that changed so focus and
  // the reader's place are kept.
  let refreshing = false;
  let again = false;
  async function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    try {
      const response = await fetch('/classes/' + classId + '/rows', {
        headers: { Accept: 'text/html' },
        credentials: 'same-origin',
      });
      if (response.redirected || response.status === 401) {
        say(alerts, 'You have been signed out. Reload the page to sign in again.', true);
        return;
      }
      if (!response.ok) return;
      const fresh = document.createElement('tbody');
      fresh.innerHTML = await response.text();
      const freshRows = Array.from(fresh.querySelectorAll('tr[data-row]'));
      const oldKeys = rows().map(function (r) { return r.dataset.row; }).join();
      const newKeys = freshRows.map(function (r) { return r.dataset.row; }).join();
      if (oldKeys !== newKeys) {
        body.replaceChildren.apply(body, freshRows);
      } else {
        rows().forEach(function (old, i) {
          const next = freshRows[i];
          if (old.outerHTML === next.outerHTML) return;
          const focused = old.contains(document.activeElement);
          old.replaceWith(next);
          if (focused) {
            const target = next.querySelector('button') || next.querySelector('a');
            if (target) target.focus();
          }
        });
      }
      updateProgress();
    } catch (e) {
      // The next live update or the timer tries again.
    } finally {
      refreshing = false;
      if (again) { again = false; refresh(); }
    }
  }

  let timer = null;
  function refreshSoon() {
    if (timer) return;
    timer = setTimeout(function () { timer = null; refresh(); }, 150);
  }

  async function post(url, payload) {
    const response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrfToken },
      body: JSON.stringify(payload || {}),
    });
    let answer = {};
    try { answer = await response.json(); } catch (e) { answer = {}; }
    return { status: response.status, ok: response.ok, answer: answer };
  }

  function problemText(result) {
    if (result.status === 401) return 'You have been signed out. Reload the page to sign in again.';
    // Every API refusal is {"error": {"code", "message", "request_id"}}; the message is for people.
    const error = result.answer && result.answer.error;
    return (error && error.message) || 'That did not work. Please try again.';
  }

  // One student's button. The button is disabled at once, so a double click sends one request.
  body.addEventListener('click', async function (event) {
    const button = event.target.closest('button[data-action]');
    if (!button || button.disabled) return;
    const row = button.closest('tr[data-portfolio]');
    if (!row) return;
    button.disabled = true;
    say(alerts, '');
    try {
      const result = await post('/api/portfolios/' + row.dataset.portfolio + '/' + button.dataset.action);
      if (!result.ok) {
        say(alerts, problemText(result), true);
        button.disabled = false;
      }
    } catch (e) {
      say(alerts, 'Invigilator could not be reached. Check your connection and try again.', true);
      button.disabled = false;
    }
    refresh();
  });

  // The whole class, after a confirmation naming how many folders change.
  page.querySelectorAll('[data-class-action]').forEach(function (button) {
    button.addEventListener('click', function () {
      const verb = button.dataset.classAction;
      const all = rows().filter(function (r) { return r.dataset.portfolio; });
      const count = all.length;
      const title = page.querySelector('[data-confirm-title]');
      const text = page.querySelector('[data-confirm-text]');
      const yes = page.querySelector('[data-confirm-yes]');
      if (verb === 'lock') {
        title.textContent = 'Lock ' + className + '?';
        text.textContent = 'All ' + count + ' students will be able to read their work but not change it, until it is unlocked.';
        yes.textContent = 'Lock ' + count + ' folders';
      } else {
        title.textContent = 'Unlock ' + className + '?';
        text.textContent = 'All ' + count + ' students will be able to change their work again.';
        yes.textContent = 'Unlock ' + count + ' folders';
      }
      dialog.dataset.verb = verb;
      dialog.dataset.expected = JSON.stringify(all.map(function (r) { return r.dataset.portfolio; }));
      dialog.returnValue = '';
      dialog.showModal();
    });
  });

  if (dialog) {
    dialog.addEventListener('close', async function () {
      if (dialog.returnValue !== 'confirm') return;
      const verb = dialog.dataset.verb;
      const buttons = page.querySelectorAll('[data-class-action]');
      buttons.forEach(function (b) { b.disabled = true; });
      say(alerts, '');
      try {
        const result = await post('/api/classes/' + classId + '/' + verb, {
          expected_portfolios: JSON.parse(dialog.dataset.expected || '[]'),
        });
        if (result.ok) {
          classRequestPending = true;
          say(status, (verb === 'lock' ? 'Locking ' : 'Unlocking ') + result.answer.requested.length + ' folders…');
        } else {
          say(alerts, problemText(result), true);
        }
      } catch (e) {
        say(alerts, 'Invigilator could not be reached. Check your connection and try again.', true);
      }
      buttons.forEach(function (b) { b.disabled = false; });
      refresh();
    });
  }

  // Live status: any change to one of this class's folders brings the rows up to date.
  if (window.EventSource) {
    const events = new EventSource('/api/events');
    events.addEventListener('portfolios', function (event) {
      try {
        const changes = JSON.parse(event.data);
        if (changes.some(function (c) { return c.course_id === classId; })) refreshSoon();
      } catch (e) {
        refreshSoon();
      }
    });
    // After a dropped connection, catch up on what was missed.
    events.addEventListener('open', refreshSoon);
  }
  // A safety net for networks that hold server-sent events back.
  setInterval(function () {
    if (document.visibilityState === 'visible') refresh();
  }, 20000);
})();
