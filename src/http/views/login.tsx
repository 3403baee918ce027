import type { Flash } from '../flash.ts';
import { Field } from './field.tsx';
import { Layout } from './layout.tsx';
import { Messages } from './messages.tsx';

export function LoginPage({ flash }: { flash: Flash }) {
  return (
    <Layout title="Log in">
      <h1>Log in</h1>
      <Messages flash={flash} />
      <form method="post" action="/login">
        <Field
          name="username"
          label="Username"
          autocomplete="username"
          value={flash.values?.username}
          error={flash.fields?.username}
          required
          autofocus={!flash.values?.username}
        />
        <Field
          name="password"
          label="Password"
          type="password"
          autocomplete="current-password"
          error={flash.fields?.password}
          required
          autofocus={Boolean(flash.values?.username)}
        />
        <button type="submit">Log in</button>
      </form>
      <p class="after">
        New here? <a href="/register">Create an account</a>
      </p>
    </Layout>
  );
}
