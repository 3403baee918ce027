import type { Flash } from '../flash.ts';
import { sentence } from './render.ts';

/** The page-level notice and error of a flash; field errors sit at their fields. */
export function Messages({ flash }: { flash: Flash }) {
  return (
    <>
      {flash.error ? (
        <p class="message error" role="alert" id="form-error">
          {sentence(flash.error)}
        </p>
      ) : null}
      {flash.notice ? (
        <p class="message notice" role="status" id="form-notice">
          {sentence(flash.notice)}
        </p>
      ) : null}
    </>
  );
}
