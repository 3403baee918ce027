/**
 * The declaration of an environment variable: its name, what it means, its
 * default and how its text becomes a value. Each section of the
 * configuration declares its variables with these and reads them with a
 * Reader; `.env.example` and README are checked against the declarations.
 */
import { parseAddress } from '../wire/address.ts';

export type Env = Record<string, string | undefined>;

/** The text of a value, or what was expected instead. */
type Parsed<T> = { value: T } | { expected: string };

export interface Variable<T> {
  readonly name: string;
  /** One line on what it does, as `.env.example` and README say it at more length. */
  readonly doc: string;
  readonly fallback: T;
  /**
   * The default as `.env.example` writes it; null when it depends on the
   * machine (the number of cores) or on other variables.
   */
  readonly shown: string | null;
  /** Only called with a non-empty value: unset and '' mean the default. */
  parse(raw: string): Parsed<T>;
  /** True for a value never to be echoed back in a message. */
  readonly secret: boolean;
  /** A secret's value as a message may show it (a URL without its password); '(hidden)' when none is safe. */
  readonly redact: (raw: string) => string;
}

interface Common {
  doc: string;
  /** Set when the default is computed (cores, other variables): `.env.example` leaves it empty. */
  computed?: boolean;
  secret?: boolean;
  redact?: (raw: string) => string;
}

function declare<T>(
  name: string,
  fallback: T,
  common: Common,
  parse: (raw: string) => Parsed<T>,
): Variable<T> {
  return Object.freeze({
    name,
    doc: common.doc,
    fallback,
    shown: common.computed ? null : Array.isArray(fallback) ? fallback.join(',') : String(fallback),
    parse,
    secret: common.secret ?? false,
    redact: common.redact ?? (() => '(hidden)'),
  });
}

export function text(name: string, options: Common & { default: string }): Variable<string> {
  return declare<string>(name, options.default, options, (raw) => ({ value: raw }));
}

/**
 * An address to listen on: a name, an IPv4 or an IPv6 address, which may be written in
 * brackets as in a URL (`[::1]`), taken without them (a bracketed one passed the checks
 * and then failed to bind, with a stack trace: an attack audit).
 */
export function host(name: string, options: Common & { default: string }): Variable<string> {
  return declare<string>(name, options.default, options, (raw) => ({
    value: /^\[[^\]]*\]$/.test(raw) ? raw.slice(1, -1) : raw,
  }));
}

export function int(
  name: string,
  options: Common & { default: number; min: number; max: number },
): Variable<number> {
  const { min, max } = options;
  const expected = `an integer from ${min} to ${max} (default ${options.default})`;
  return declare<number>(name, options.default, options, (raw) => {
    const value = Number(raw);
    return /^\s*-?\d+\s*$/.test(raw) && value >= min && value <= max ? { value } : { expected };
  });
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

export function bool(name: string, options: Common & { default: boolean }): Variable<boolean> {
  const expected = `true or false (default ${options.default})`;
  return declare<boolean>(name, options.default, options, (raw) => {
    const lower = raw.toLowerCase();
    if (TRUE.includes(lower)) return { value: true };
    if (FALSE.includes(lower)) return { value: false };
    return { expected };
  });
}

export function oneOf<const T extends string>(
  name: string,
  options: Common & { default: T; allowed: readonly T[] },
): Variable<T> {
  const allowed: readonly string[] = options.allowed;
  const expected = `one of ${allowed.join(', ')} (default ${options.default})`;
  return declare<T>(name, options.default, options, (raw) =>
    allowed.includes(raw) ? { value: raw as T } : { expected },
  );
}

/** `raw` with the password of its URL hidden; '(hidden)' when it is no URL (where a password would be is unknown). */
function withoutPassword(raw: string): string {
  try {
    const parsed = new URL(raw);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.href;
  } catch {
    return '(hidden)';
  }
}

/**
 * Why `raw` is not a URL of one of `schemes` (e.g. ['mysql:']) with a host,
 * and with one path segment when `named` (the database); null when it is.
 */
function urlProblem(raw: string, schemes: readonly string[], named: boolean): string | null {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    return 'not a URL';
  }
  if (!schemes.includes(parsed.protocol)) return `the scheme is ${parsed.protocol.slice(0, -1)}`;
  if (parsed.hostname === '') return 'no host';
  if (named && !/^\/[^/]+$/.test(parsed.pathname)) return 'no database name after the port';
  return null;
}

/**
 * A URL of one of `schemes` (with a host; `named`: and a database name as
 * its path), e.g. `mysql://user:pass@host:3306/db`. A secret: a message shows
 * it without its password. Empty when unset.
 */
export function url(
  name: string,
  options: Common & { schemes: readonly string[]; example: string; named?: boolean },
): Variable<string> {
  const named = options.named ?? false;
  return declare<string>(name, '', { ...options, secret: true, redact: withoutPassword }, (raw) => {
    const problem = urlProblem(raw, options.schemes, named);
    return problem === null
      ? { value: raw }
      : { expected: `a URL like ${options.example} (${problem})` };
  });
}

/** A comma-separated list of URLs, as `url` checks each (e.g. database replicas). */
export function urls(
  name: string,
  options: Common & { schemes: readonly string[]; example: string; named?: boolean },
): Variable<readonly string[]> {
  const named = options.named ?? false;
  const redact = (raw: string) => splitList(raw).map(withoutPassword).join(',');
  return declare<readonly string[]>(name, [], { ...options, secret: true, redact }, (raw) => {
    const value = splitList(raw);
    const problems = value.map((one) => urlProblem(one, options.schemes, named));
    const problem = problems.find((p) => p !== null);
    return problem === undefined
      ? { value }
      : { expected: `comma-separated URLs like ${options.example} (${problem})` };
  });
}

function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A comma-separated list; empty when unset. */
export function list(name: string, options: Common): Variable<readonly string[]> {
  return declare<readonly string[]>(name, [], options, (raw) => ({ value: splitList(raw) }));
}

function isAddress(address: string): boolean {
  try {
    return parseAddress(address) !== null;
  } catch {
    return false;
  }
}

/** A comma-separated list of host:port. */
export function addresses(
  name: string,
  options: Common & { default: readonly string[] },
): Variable<readonly string[]> {
  const expected = 'a comma-separated list of host:port, e.g. 10.0.0.5:9090,10.0.0.6:9090';
  return declare<readonly string[]>(name, options.default, options, (raw) => {
    const value = splitList(raw);
    return value.length > 0 && value.every(isAddress) ? { value } : { expected };
  });
}
