import type { Flash } from '../flash.ts';
import { Field } from './field.tsx';
import { Layout } from './layout.tsx';
import { hasErrors, Messages } from './messages.tsx';

/**
 * The second step of a login: the code, on a form of its own. The password
 * is not on this page in any form; the login so far is in the cookie (a
 * ticket), and the form carries its anti-CSRF token.
 */
export function LoginCodePage({ flash, csrfToken }: { flash: Flash; csrfToken: string }) {
  const failed = hasErrors(flash);
  return (
    <Layout title="Enter your code" error={failed}>
      <h1>Enter your code</h1>
      <Messages flash={flash} fields={[{ name: 'code', label: 'Code' }]} errorField="code" />
      <form method="post" action="/login/code">
        <input type="hidden" name="csrf" value={csrfToken} />
        <Field
          name="code"
          label="Code"
          autocomplete="one-time-code"
          hint="The 6 digits your authenticator app shows now, or one of your recovery codes. Within 5 minutes of your password; after that, log in again"
          error={flash.fields?.code}
          required
          autofocus={!failed}
        />
        <button type="submit">Log in</button>
      </form>
      <p class="after">
        <a href="/login">Start again</a>
      </p>
    </Layout>
  );
}
