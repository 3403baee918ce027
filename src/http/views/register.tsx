import type { GetAccountRulesResponse } from '../../gen/usermgr/v1/rpc_pb.ts';
import { MESSAGES } from '../../wire/messages.ts';
import type { Flash } from '../flash.ts';
import { Field } from './field.tsx';
import { Layout } from './layout.tsx';
import { hasErrors, Messages } from './messages.tsx';

const FIELDS = [
  { name: 'username', label: 'Username' },
  { name: 'password', label: 'Password' },
  { name: 'password2', label: 'Password again' },
  { name: 'nickname', label: 'Nickname' },
];

export function RegisterPage({ flash, rules }: { flash: Flash; rules: GetAccountRulesResponse }) {
  const errors = flash.fields ?? {};
  // With errors, the summary takes the focus.
  const failed = hasErrors(flash);
  return (
    <Layout title="Create an account" error={failed}>
      <h1>Create an account</h1>
      <Messages flash={flash} fields={FIELDS} errorField="username" />
      <form method="post" action="/register">
        <Field
          name="username"
          label="Username"
          autocomplete="username"
          value={flash.values?.username}
          rule={rules.username}
          hint="You cannot change it later"
          error={errors.username}
          trimmed
          required
          autofocus={!failed}
        />
        <Field
          name="password"
          label="Password"
          type="password"
          autocomplete="new-password"
          rule={rules.password}
          error={errors.password}
          required
        />
        <Field
          name="password2"
          label="Password again"
          type="password"
          autocomplete="new-password"
          error={errors.password2}
          sameAs={{ field: 'password', message: MESSAGES.PASSWORDS_DIFFER }}
          required
        />
        <Field
          name="nickname"
          label="Nickname"
          autocomplete="nickname"
          value={flash.values?.nickname}
          rule={rules.nickname}
          hint="Any script or emoji. Left empty, it is your username"
          error={errors.nickname}
          dir="auto"
        />
        <button type="submit">Create account</button>
      </form>
      <p class="after">
        Already have an account? <a href="/login">Log in</a>
      </p>
    </Layout>
  );
}
