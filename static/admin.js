// The admin pages' behaviour, appended to app.js when served (one script for the browser).
// Everything here only improves pages that work without it.
'use strict';

(function () {
  // Removals ask first. Without the script the server shows a page asking instead; here a
  // modal dialog asks, and a yes sends the form on with confirm=yes.
  let dialog = null;
  function confirmDialog() {
    if (dialog) return dialog;
    dialog = document.createElement('dialog');
    dialog.className = 'confirm';
    dialog.setAttribute('aria-labelledby', 'admin-confirm-title');
    dialog.innerHTML =
      '<form method="dialog"><h2 id="admin-confirm-title"></h2><p></p>' +
      '<div class="actions"><button type="submit" class="button danger" value="yes"></button>' +
      '<button type="submit" class="button secondary" value="cancel">Cancel</button></div></form>';
    document.body.appendChild(dialog);
    return dialog;
  }
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (form.querySelector('input[name="confirm"]') || typeof HTMLDialogElement !== 'function') return;
      event.preventDefault();
      const opener = document.activeElement;
      const d = confirmDialog();
      d.querySelector('h2').textContent = form.dataset.confirmTitle || 'Are you sure?';
      d.querySelector('p').textContent = form.dataset.confirm;
      d.querySelector('button[value="yes"]').textContent = form.dataset.confirmYes || 'Yes';
      d.returnValue = '';
      d.onclose = function () {
        if (d.returnValue === 'yes') {
          const yes = document.createElement('input');
          yes.type = 'hidden';
          yes.name = 'confirm';
          yes.value = 'yes';
          form.appendChild(yes);
          form.submit();
        } else if (opener && opener.focus) {
          opener.focus();
        }
      };
      d.showModal();
      d.querySelector('button[value="cancel"]').focus();
    });
  });

  // A new rule's preview as it is typed: the server answers with the same list the Preview
  // button shows, matched by the same rule as placement.
  document.querySelectorAll('form[data-rule-form]').forEach(function (form) {
    const pattern = form.querySelector('[data-preview-pattern]');
    const value = form.querySelector('[data-preview-value]');
    const target = form.querySelector('[data-preview-target]');
    if (!pattern || !target) return;
    let timer = null;
    let latest = 0;
    function refresh() {
      const asked = ++latest;
      if (pattern.value.trim() === '') {
        target.innerHTML = '';
        return;
      }
      const query = new URLSearchParams({
        kind: form.dataset.ruleForm,
        pattern: pattern.value,
        value: value ? value.value : ''
      });
      fetch('/admin/rules/preview?' + query.toString(), { credentials: 'same-origin' })
        .then(function (answer) { return answer.ok ? answer.text() : Promise.reject(answer.status); })
        .then(function (html) { if (asked === latest) target.innerHTML = html; })
        .catch(function () { /* the Preview button still works */ });
    }
    function soon() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 250);
    }
    pattern.addEventListener('input', soon);
    if (value) value.addEventListener('input', soon);
    if (value) value.addEventListener('change', soon);
  });

  // The subject is asked for only when the role is Head of Subject (without the script it is
  // always shown, and the server refuses a subject for any other role).
  const role = document.querySelector('[data-role-select]');
  const subjectField = document.querySelector('[data-subject-field]');
  if (role && subjectField) {
    const subject = subjectField.querySelector('select');
    const show = function () {
      // A subject refused for another role stays in sight, beside its message.
      const hide = role.value !== 'head_of_subject' && !subjectField.classList.contains('field-invalid');
      subjectField.hidden = hide;
      if (hide && subject) subject.value = '';
    };
    role.addEventListener('change', show);
    show();
  }
})();
