// The heads pages' behaviour, appended to app.js when served (one script for the browser).
// Everything works without it; it only helps: focus goes to what just happened (a chain check's
// result), and a button that starts slow work says so and cannot be
// pressed twice.
'use strict';
(function () {
  // The chain check's result: read first (app.js already takes focus to a filter's problems).
  const result = document.querySelector('[data-chain-result]');
  if (result) {
    result.focus();
  }

  // "Verify the chain" and "Sync now": one press, and a word while it works.
  document.querySelectorAll('form[data-busy-label]').forEach(function (form) {
    form.addEventListener('submit', function () {
      const button = form.querySelector('button[type="submit"]');
      if (!button) {
        return;
      }
      button.dataset.label = button.textContent;
      // After this tick, so the press itself is still sent.
      setTimeout(function () {
        button.disabled = true;
        button.textContent = form.dataset.busyLabel;
      }, 0);
    });
  });
  // Back to a page the browser kept: its buttons work again.
  window.addEventListener('pageshow', function (event) {
    if (!event.persisted) {
      return;
    }
    document.querySelectorAll('form[data-busy-label] button[type="submit"]').forEach(function (button) {
      button.disabled = false;
      if (button.dataset.label) {
        button.textContent = button.dataset.label;
      }
    });
  });
})();
