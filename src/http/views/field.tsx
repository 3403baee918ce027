import type { FieldRule } from '../../gen/usermgr/v1/rpc_pb.ts';
import {
  MAX_NICKNAME_CHARS,
  MAX_OTP_CHARS,
  MAX_PASSWORD_CHARS,
  MAX_USERNAME_CHARS,
} from '../limits.ts';
import { sentence } from './render.ts';

/**
 * The most a browser lets be typed or pasted into a field, by what it holds:
 * the HTTP server's bounds (limits.ts), above the rules, so that text over a
 * rule still gets the form's own error beside the field, and text over a
 * bound (which is refused as the request is read, on a page of its own, with
 * the form gone) cannot be sent from the form at all.
 */
const MAX_LENGTH: Record<string, number> = {
  username: MAX_USERNAME_CHARS,
  'current-password': MAX_PASSWORD_CHARS,
  'new-password': MAX_PASSWORD_CHARS,
  nickname: MAX_NICKNAME_CHARS,
  'one-time-code': MAX_OTP_CHARS,
};

export interface FieldProps {
  name: string;
  label: string;
  type?: 'text' | 'password';
  value?: string;
  autocomplete: string;
  required?: boolean;
  /** The rule from the TCP server: shown under the field and hinted to the browser. */
  rule?: FieldRule | undefined;
  /** Extra words after the rule. */
  hint?: string;
  error?: string | undefined;
  /** Ids of other text about this field, such as a page-level error. */
  describedBy?: string | undefined;
  autofocus?: boolean;
  /** Marked invalid without an error of its own: a page-level error (describedBy) is about it. */
  invalid?: boolean;
  /** The server drops spaces around the value: the browser's pattern lets them be. */
  trimmed?: boolean;
  /** 'numeric' for a field of digits only: phones then show a keypad. */
  inputMode?: 'numeric';
  /** 'auto' for text in any script: a Hebrew or Arabic nickname is laid out right to left. */
  dir?: 'auto';
  /**
   * A confirming field: the field it must equal, and what to say when it does
   * not. password.js checks it as the user types, so a mismatch is told before
   * the form is sent (the server checks again).
   */
  sameAs?: { field: string; message: string };
}

/**
 * A labelled text input with its rule and its error, both tied to it with
 * aria-describedby so screen readers read them with the field.
 */
export function Field(props: FieldProps) {
  const { name, label, type = 'text', value, rule, hint, error } = props;
  const ruleText = [rule?.text ?? '', hint ?? ''].filter(Boolean).map(sentence).join(' ');
  const described = [
    ruleText ? `${name}-rule` : '',
    error ? `${name}-error` : '',
    props.describedBy ?? '',
  ]
    .filter(Boolean)
    .join(' ');
  return (
    <div class="field">
      <label for={name}>
        {label}
        {props.required ? null : <span class="optional"> (optional)</span>}
      </label>
      <input
        id={name}
        data-reveal={type === 'password' ? '' : undefined}
        name={name}
        type={type}
        value={type === 'password' ? undefined : value}
        autocomplete={props.autocomplete}
        required={props.required}
        autofocus={props.autofocus}
        dir={props.dir}
        minlength={props.required && rule?.minChars ? rule.minChars : undefined}
        maxlength={MAX_LENGTH[props.autocomplete]}
        data-same-as={props.sameAs?.field}
        data-mismatch={props.sameAs ? sentence(props.sameAs.message) : undefined}
        pattern={
          rule?.pattern ? (props.trimmed ? ` *(?:${rule.pattern}) *` : rule.pattern) : undefined
        }
        // What a browser says when the pattern refuses: its own words name no rule.
        title={rule?.pattern ? sentence(rule.text) : undefined}
        inputmode={props.inputMode}
        spellcheck={false}
        autocapitalize="off"
        aria-invalid={error || props.invalid ? 'true' : undefined}
        aria-describedby={described || undefined}
      />
      {ruleText ? (
        <small class="hint" id={`${name}-rule`}>
          {ruleText}
        </small>
      ) : null}
      {error ? (
        <strong class="field-error" id={`${name}-error`}>
          {sentence(error)}
        </strong>
      ) : null}
    </div>
  );
}
