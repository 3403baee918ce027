import type { Flash } from '../flash.ts';
import { sentence } from './render.ts';

/** A form field as the error summary names it: its input's id and its label. */
interface SummaryField {
  name: string;
  label: string;
  /**
   * The form it belongs to, on a page of several: the summary names it
   * ("Delete account: the password is wrong"), since two forms may say the
   * same words about fields far apart.
   */
  form?: string;
}

export interface MessagesProps {
  flash: Flash;
  /** The form's fields in page order: each error is listed as a link to its field. */
  fields?: SummaryField[];
  /** Where the page-level error sends the reader, e.g. the first field of a failed login. */
  errorField?: string;
}

/** Whether the page shows an error: its title then starts with "Error:". */
export function hasErrors(flash: Flash): boolean {
  return Boolean(flash.error) || Object.values(flash.fields ?? {}).some(Boolean);
}

/**
 * The page-level notice, and when something went wrong an error summary at
 * the top (the GOV.UK design system's pattern): a heading and one link per
 * error to the field to fix, focused when the page loads so that keyboard and
 * screen-reader users start there. Field errors are repeated at their fields.
 */
/**
 * A field's error named by its form ("Picture: the file is empty"), unless
 * the message already starts with the form's name: "Nickname: nickname must
 * be ..." said it twice.
 */
function inForm(form: string | undefined, message: string): string {
  if (!form || message.toLowerCase().startsWith(`${form.toLowerCase()} `)) return message;
  return `${form}: ${message}`;
}

export function Messages({ flash, fields = [], errorField }: MessagesProps) {
  const fieldErrors = fields.flatMap(({ name, label, form }) => {
    const message = flash.fields?.[name];
    return message ? [{ name, label, message: inForm(form, message) }] : [];
  });
  const listed = new Set(fieldErrors.map((e) => e.name));
  // Errors for fields the caller did not name still show, without a link.
  const unnamed = Object.entries(flash.fields ?? {}).filter(([n, m]) => m && !listed.has(n));
  return (
    <>
      {hasErrors(flash) ? (
        <div
          class="error-summary"
          id="error-summary"
          role="alert"
          aria-labelledby="error-summary-title"
          tabindex={-1}
          autofocus
        >
          <h2 id="error-summary-title">There is a problem</h2>
          <ul>
            {flash.error ? (
              <li id="form-error">
                {errorField ? (
                  <a href={`#${errorField}`}>{sentence(flash.error)}</a>
                ) : (
                  sentence(flash.error)
                )}
              </li>
            ) : null}
            {fieldErrors.map(({ name, message }) => (
              <li>
                <a href={`#${name}`}>{sentence(message)}</a>
              </li>
            ))}
            {unnamed.map(([, message]) => (
              <li>{sentence(message)}</li>
            ))}
          </ul>
        </div>
      ) : null}
      {flash.notice ? (
        <p class="message notice" role="status" id="form-notice">
          {sentence(flash.notice)}
        </p>
      ) : null}
    </>
  );
}
