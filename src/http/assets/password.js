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
  button.setAttribute('aria-pressed', 'false');
  button.setAttribute('aria-label', `Show ${input.labels?.[0]?.textContent?.trim() ?? 'password'}`);
  button.addEventListener('click', () => {
    const shown = input.type === 'password';
    input.type = shown ? 'text' : 'password';
    button.textContent = shown ? 'Hide' : 'Show';
    button.setAttribute('aria-pressed', String(shown));
  });
  row.append(button);
}
