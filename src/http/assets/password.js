// Enhancement only: a "Show" button beside each password field, which shows
// what was typed and hides it again. Without this script the fields stay
// ordinary password fields. The button is type="button", so it never submits.
for (const input of document.querySelectorAll('input[data-reveal]')) {
  if (!(input instanceof HTMLInputElement)) continue;
  const row = document.createElement('div');
  row.className = 'password-row';
  input.replaceWith(row);
  row.append(input);
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'quiet';
  button.textContent = 'Show';
  button.setAttribute('aria-controls', input.id);
  // The name starts with the word shown ("Show Password", then "Hide Password"),
  // so that voice control finds the button by what it says (WCAG 2.5.3).
  const field = input.labels?.[0]?.textContent?.trim() ?? 'password';
  button.setAttribute('aria-label', `Show ${field}`);
  button.addEventListener('click', () => {
    const shown = input.type === 'password';
    input.type = shown ? 'text' : 'password';
    button.textContent = shown ? 'Hide' : 'Show';
    button.setAttribute('aria-label', `${shown ? 'Hide' : 'Show'} ${field}`);
  });
  row.append(button);
}

// A confirming field (data-same-as names the field it must equal) is checked
// as either is typed in: a mismatch stops the form before it is sent, with the
// server's own words (data-mismatch), and the passwords are not typed again.
for (const confirm of document.querySelectorAll('input[data-same-as]')) {
  if (!(confirm instanceof HTMLInputElement)) continue;
  const original = document.getElementById(confirm.dataset.sameAs ?? '');
  if (!(original instanceof HTMLInputElement)) continue;
  const check = () => {
    const differ = confirm.value !== '' && confirm.value !== original.value;
    confirm.setCustomValidity(differ ? (confirm.dataset.mismatch ?? '') : '');
  };
  confirm.addEventListener('input', check);
  original.addEventListener('input', check);
}

// A form is sent once: a second click (or Enter) while the first post was on its
// way sent it again, and the browser showed the second answer: a sign-up said
// "this username is already taken" of the account the first had just made, and
// deleting an account said the session had ended (a browser audit). A form that
// another script stopped (a file too large) was not sent and stays free; so is
// one whose post was stopped (Esc) or lost, after SEND_AGAIN_MS (the servers
// answer within 5 s).
const SEND_AGAIN_MS = 5000;
function free(form) {
  delete form.dataset.sending;
  form.removeAttribute('aria-busy');
}
document.addEventListener('submit', (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || event.defaultPrevented) return;
  if (form.dataset.sending === 'yes') {
    event.preventDefault();
    return;
  }
  form.dataset.sending = 'yes';
  form.setAttribute('aria-busy', 'true');
  setTimeout(() => free(form), SEND_AGAIN_MS);
});

// A page brought back by Back or Forward from the browser's memory (bfcache)
// keeps what was typed in it, passwords and codes included, although the
// pages are sent with Cache-Control: no-store: Chromium restored the set-up
// page of two-step login with the account password still in its field. The
// secrets are cleared when such a page is shown again; other fields keep
// their text.
window.addEventListener('pageshow', (event) => {
  if (!event.persisted) return;
  for (const form of document.forms) free(form);
  for (const input of document.querySelectorAll(
    'input[type="password"], input[data-reveal], input[autocomplete="one-time-code"]',
  )) {
    if (input instanceof HTMLInputElement) input.value = '';
  }
});
