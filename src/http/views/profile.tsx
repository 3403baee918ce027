import type { GetAccountRulesResponse, LiveSession, User } from '../../gen/usermgr/v1/rpc_pb.ts';
import { MESSAGES, pictureTooLarge, pixelsInWords } from '../../wire/messages.ts';
import { assets } from '../assets.ts';
import type { Flash } from '../flash.ts';
import { pictureUrl } from '../user-json.ts';
import { Avatar } from './avatar.tsx';
import { CsrfField } from './csrf-field.tsx';
import { Field } from './field.tsx';
import { Layout } from './layout.tsx';
import { hasErrors, Messages } from './messages.tsx';
import { sentence } from './render.ts';
import { SessionsSection } from './sessions.tsx';
import { TwoStepSection } from './two-step.tsx';

export interface ProfilePageProps {
  user: User;
  csrfToken: string;
  rules: GetAccountRulesResponse;
  flash: Flash;
  /** e.g. "5 MiB" */
  maxUpload: string;
  /** The same, in bytes: the page's script refuses a larger file before sending it. */
  maxUploadBytes: number;
  /** "Where you're logged in"; null when it could not be read. */
  sessions: LiveSession[] | null;
  /** Whether two-step login is on, and the recovery codes left; null: not offered. */
  twoStep: { enabled: boolean; recoveryCodesLeft: number } | null;
}

/** The fields of the page's forms in page order, for the error summary's links. */
/** " and 40 megapixels": the TCP server's bound, which an older one does not tell (0). */
function pixelBound(maxPixels: number): string {
  return maxPixels > 0 ? ` and ${pixelsInWords(maxPixels)}` : '';
}

function summaryFields(username: string) {
  return [
    { name: 'nickname', label: 'New nickname', form: 'Nickname' },
    { name: 'picture', label: 'Choose a picture', form: 'Picture' },
    { name: 'current_password', label: 'Current password', form: 'Change password' },
    { name: 'new_password', label: 'New password', form: 'Change password' },
    { name: 'new_password2', label: 'New password again', form: 'Change password' },
    { name: 'password_code', label: 'Code, to change the password', form: 'Change password' },
    {
      name: 'totp_password',
      label: 'Password, to turn two-step login off',
      form: 'Two-step login',
    },
    { name: 'totp_code', label: 'Code, to turn two-step login off', form: 'Two-step login' },
    { name: 'password', label: `Password of ${username}, to confirm`, form: 'Delete account' },
    { name: 'delete_code', label: 'Code, to delete the account', form: 'Delete account' },
  ];
}

/**
 * With two-step login on, a new password and the account's deletion need a code too: a
 * session and the password are not enough to keep the owner out.
 */
function CodeField({ name, error }: { name: string; error: string | undefined }) {
  return (
    <Field
      name={name}
      label="Code"
      autocomplete="one-time-code"
      hint="Two-step login is on: the 6 digits your app shows now, or a recovery code"
      error={error}
      required
    />
  );
}

export function ProfilePage(props: ProfilePageProps) {
  const { user, csrfToken, rules, flash, maxUpload, maxUploadBytes, twoStep } = props;
  const errors = flash.fields ?? {};
  const bar = (
    <form method="post" action="/logout" class="row">
      {user.picture ? (
        <img src={pictureUrl(user.picture, true)} width={32} height={32} class="mini" alt="" />
      ) : null}
      <CsrfField token={csrfToken} />
      <button type="submit" class="quiet">
        Log out
      </button>
    </form>
  );
  return (
    <Layout
      title="Your profile"
      error={hasErrors(flash)}
      bar={bar}
      scripts={[assets.profileScript.path]}
    >
      <h1>Your profile</h1>
      <Messages flash={flash} fields={summaryFields(user.username)} />
      <div class="identity">
        <Avatar
          id="current-picture"
          username={user.username}
          nickname={user.nickname}
          picture={user.picture}
        />
        <div class="names">
          <p class="nickname" id="shown-nickname" dir="auto">
            {user.nickname}
          </p>
          <p class="username">
            Username: <span id="shown-username">{user.username}</span>
          </p>
        </div>
      </div>

      <section aria-labelledby="nickname-heading">
        <h2 id="nickname-heading">Nickname</h2>
        <form method="post" action="/profile/nickname">
          <CsrfField token={csrfToken} />
          <Field
            name="nickname"
            label="New nickname"
            autocomplete="nickname"
            value={flash.values?.nickname ?? user.nickname}
            rule={rules.nickname}
            hint="Any script or emoji"
            error={errors.nickname}
            required
            dir="auto"
          />
          <button type="submit">Save nickname</button>
        </form>
      </section>

      <section aria-labelledby="picture-heading">
        <h2 id="picture-heading">Picture</h2>
        {/* The picture itself is shown without alternative text (beside the nickname): this
            line is how a screen reader learns whether one is set. */}
        <p id="picture-state">
          {user.picture
            ? 'Your picture is shown at the top of this page.'
            : 'No picture yet: your initials are shown instead.'}
        </p>
        <form method="post" action="/profile/picture" enctype="multipart/form-data">
          <CsrfField token={csrfToken} />
          <div class="field">
            <label for="picture">Choose a picture</label>
            <input
              id="picture"
              name="picture"
              type="file"
              accept="image/jpeg,image/png,image/webp,image/gif"
              required
              data-max-bytes={String(maxUploadBytes)}
              data-too-large={sentence(pictureTooLarge(maxUpload))}
              // Explicitly false: Chromium marks an empty required file input invalid,
              // and a screen reader said "invalid entry" on every visit.
              aria-invalid={errors.picture ? 'true' : 'false'}
              aria-describedby={errors.picture ? 'picture-rule picture-error' : 'picture-rule'}
            />
            <small class="hint" id="picture-rule">
              {`JPEG, PNG, WebP or GIF, up to ${maxUpload}${pixelBound(rules.pictureMaxPixels)}. It is cropped to a square; of an animation, the first frame is kept.`}
            </small>
            {errors.picture ? (
              <strong class="field-error" id="picture-error">
                {sentence(errors.picture)}
              </strong>
            ) : null}
            <img id="picture-preview" class="preview" alt="Preview of your choice" hidden />
          </div>
          <button type="submit">Upload picture</button>
        </form>
        {user.picture ? (
          <form method="post" action="/profile/picture/remove">
            <CsrfField token={csrfToken} />
            <button type="submit" class="quiet">
              Remove picture
            </button>
          </form>
        ) : null}
      </section>

      <section aria-labelledby="password-heading">
        <h2 id="password-heading">Change password</h2>
        <form method="post" action="/profile/password">
          <CsrfField token={csrfToken} />
          <Field
            name="current_password"
            label="Current password"
            type="password"
            autocomplete="current-password"
            error={errors.current_password}
            required
          />
          <Field
            name="new_password"
            label="New password"
            type="password"
            autocomplete="new-password"
            rule={rules.password}
            error={errors.new_password}
            required
          />
          <Field
            name="new_password2"
            label="New password again"
            type="password"
            autocomplete="new-password"
            error={errors.new_password2}
            sameAs={{ field: 'new_password', message: MESSAGES.NEW_PASSWORDS_DIFFER }}
            required
          />
          {twoStep?.enabled ? (
            <CodeField name="password_code" error={errors.password_code} />
          ) : null}
          <button type="submit">Change password</button>
        </form>
      </section>

      {twoStep ? <TwoStepSection {...twoStep} csrfToken={csrfToken} errors={errors} /> : null}

      <SessionsSection sessions={props.sessions} csrfToken={csrfToken} />

      <section aria-labelledby="delete-heading">
        <h2 id="delete-heading">Delete account</h2>
        <form method="post" action="/profile/delete">
          <CsrfField token={csrfToken} />
          <p id="delete-warning">
            This deletes the account <strong>{user.username}</strong> for good: its profile, its
            picture and every session. It cannot be undone.
          </p>
          <Field
            name="password"
            label={`Password of ${user.username}, to confirm`}
            type="password"
            autocomplete="current-password"
            error={errors.password}
            required
          />
          {twoStep?.enabled ? <CodeField name="delete_code" error={errors.delete_code} /> : null}
          <button type="submit" class="danger">
            Delete account {user.username}
          </button>
        </form>
      </section>
    </Layout>
  );
}
