// The windows pages' behaviour, appended to app.js when served (one script for the browser).
// Everything works without it: it only copies the calendar address and brings a preview into
// view.
'use strict';

(function () {
  // ---- The calendar address: a Copy button (the text stays selectable without it) ----------
  document.querySelectorAll('[data-copy]').forEach(function (block) {
    const source = block.querySelector('[data-copy-source]');
    const button = block.querySelector('[data-copy-button]');
    const status = block.querySelector('[data-copy-status]');
    if (!source || !button) return;
    // Selecting the whole address on focus makes copying by hand easy too.
    source.addEventListener('focus', function () { source.select(); });
    if (!navigator.clipboard || !window.isSecureContext) return;
    button.hidden = false;
    button.addEventListener('click', async function () {
      try {
        await navigator.clipboard.writeText(source.value);
        status.textContent = 'Copied. Paste it into your calendar.';
      } catch (e) {
        source.focus();
        source.select();
        status.textContent = 'Your browser would not copy it: it is selected, so press Ctrl+C (or ⌘C).';
      }
    });
  });

  // ---- A window's form: after sending, go to what the answer says -------------------------
  // The problems, if there are any (the summary links each to its field); else the preview.
  const windowForm = document.querySelector('[data-window-form]');
  if (windowForm) {
    const summary = document.querySelector('[data-error-summary]');
    const preview = document.querySelector('[data-preview]');
    if (summary) summary.focus();
    else if (preview) preview.focus();
  }
})();
