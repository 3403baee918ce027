import type { Child } from 'hono/jsx';
import { assets } from '../assets.ts';

export interface LayoutProps {
  title: string;
  /** The page shows a form's errors: the title starts with "Error:", as screen readers read it first. */
  error?: boolean;
  /**
   * Scripts from this origin besides password.js (the CSP allows no others,
   * and nothing inline). password.js is on every page: it adds a Show button
   * to any password field there is, and a page that has none pays one cached file.
   */
  scripts?: string[];
  /** Shown at the right of the top bar (the signed-in user, log out). */
  bar?: Child;
  children?: Child;
}

export function Layout({ title, error, scripts = [], bar, children }: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${error ? 'Error: ' : ''}${title} · usermgr`}</title>
        <link rel="stylesheet" href={assets.style.path} />
        {[assets.passwordScript.path, ...scripts].map((src) => (
          <script src={src} defer />
        ))}
      </head>
      <body>
        <header class="bar">
          <a class="brand" href="/">
            usermgr
          </a>
          {bar}
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
