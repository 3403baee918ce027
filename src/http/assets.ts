/**
 * The stylesheet and the small scripts, read once at start-up and served
 * under names that contain a hash of their content, so that browsers may
 * keep them for a year: a changed file is a new URL.
 */
import { readFileSync } from 'node:fs';

export interface Asset {
  /** The URL path, e.g. /assets/style.3f2a9c01de.css */
  path: string;
  body: string;
  contentType: string;
}

function asset(file: string, contentType: string): Asset {
  const body = readFileSync(new URL(`./assets/${file}`, import.meta.url), 'utf8');
  const hash = new Bun.CryptoHasher('sha256').update(body).digest('hex').slice(0, 10);
  const dot = file.lastIndexOf('.');
  return {
    path: `/assets/${file.slice(0, dot)}.${hash}${file.slice(dot)}`,
    body,
    contentType,
  };
}

export const assets = {
  style: asset('style.css', 'text/css; charset=utf-8'),
  profileScript: asset('profile.js', 'text/javascript; charset=utf-8'),
  passwordScript: asset('password.js', 'text/javascript; charset=utf-8'),
} as const;

export const assetsByPath: ReadonlyMap<string, Asset> = new Map(
  Object.values(assets).map((a) => [a.path, a]),
);
