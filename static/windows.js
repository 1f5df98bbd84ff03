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

  // ---- A window's form: after a preview, go to it ------------------------------------------
  // (The problems, when there are any, take the focus instead: app.js does that for every form.)
  const windowForm = document.querySelector('[data-window-form]');
  if (windowForm && !document.querySelector('[data-error-summary]')) {
    const preview = document.querySelector('[data-preview]');
    if (preview) preview.focus();
  }
})();
