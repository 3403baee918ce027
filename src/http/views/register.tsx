import type { GetAccountRulesResponse } from '../../gen/usermgr/v1/rpc_pb.ts';
import type { Flash } from '../flash.ts';
import { Field } from './field.tsx';
import { Layout } from './layout.tsx';
import { Messages } from './messages.tsx';

export function RegisterPage({ flash, rules }: { flash: Flash; rules: GetAccountRulesResponse }) {
  const errors = flash.fields ?? {};
  // Focus where there is something to fix, else at the start.
  const focus =
    ['username', 'password', 'password2', 'nickname'].find((f) => errors[f]) ?? 'username';
  return (
    <Layout title="Create an account">
      <h1>Create an account</h1>
      <Messages flash={flash} />
      <form method="post" action="/register">
        <Field
          name="username"
          label="Username"
          autocomplete="username"
          value={flash.values?.username}
          rule={rules.username}
          hint="You cannot change it later"
          error={errors.username}
          required
          autofocus={focus === 'username'}
        />
        <Field
          name="password"
          label="Password"
          type="password"
          autocomplete="new-password"
          rule={rules.password}
          error={errors.password}
          required
          autofocus={focus === 'password'}
        />
        <Field
          name="password2"
          label="Password again"
          type="password"
          autocomplete="new-password"
          error={errors.password2}
          required
          autofocus={focus === 'password2'}
        />
        <Field
          name="nickname"
          label="Nickname"
          autocomplete="nickname"
          value={flash.values?.nickname}
          rule={rules.nickname}
          hint="Any script or emoji. Left empty, it is your username"
          error={errors.nickname}
          autofocus={focus === 'nickname'}
        />
        <button type="submit">Create account</button>
      </form>
      <p class="after">
        Already have an account? <a href="/login">Log in</a>
      </p>
    </Layout>
  );
}
