import { MESSAGES } from '../../wire/messages.ts';
import type { Flash } from '../flash.ts';
import { Field } from './field.tsx';
import { Layout } from './layout.tsx';
import { hasErrors, Messages } from './messages.tsx';
import { RememberField } from './remember-field.tsx';

const FIELDS = [
  { name: 'username', label: 'Username' },
  { name: 'password', label: 'Password' },
];

export function LoginPage({ flash }: { flash: Flash }) {
  const errors = hasErrors(flash);
  // A failed login is one error about both fields: tied to each, linked to the first.
  const pageError = flash.error ? 'form-error' : undefined;
  // Marked invalid only when the two are what failed, not for "too busy" or an outage.
  const wrong = flash.error === MESSAGES.BAD_CREDENTIALS;
  return (
    <Layout title="Log in" error={errors}>
      <h1>Log in</h1>
      <Messages flash={flash} fields={FIELDS} errorField="username" />
      <form method="post" action="/login">
        <Field
          name="username"
          label="Username"
          autocomplete="username"
          value={flash.values?.username}
          error={flash.fields?.username}
          describedBy={pageError}
          invalid={wrong}
          required
          autofocus={!errors && !flash.values?.username}
        />
        <Field
          name="password"
          label="Password"
          type="password"
          autocomplete="current-password"
          error={flash.fields?.password}
          describedBy={pageError}
          invalid={wrong}
          required
          autofocus={!errors && Boolean(flash.values?.username)}
        />
        <RememberField checked={flash.values?.remember === 'yes'} />
        <button type="submit">Log in</button>
      </form>
      <p class="after">
        New here? <a href="/register">Create an account</a>
      </p>
    </Layout>
  );
}
