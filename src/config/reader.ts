import type { Env, Variable } from './variable.ts';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Values<S> = { readonly [K in keyof S]: S[K] extends Variable<infer T> ? T : never };

/**
 * Reads declared variables from one environment, collecting every problem
 * so that one run reports them all; finish() throws them as one ConfigError.
 */
export class Reader {
  // A Set: a variable that two sections read (the launcher reads both
  // processes' sections) is reported once.
  private readonly problems = new Set<string>();
  /** Variables whose own value was refused: a check across them would judge their defaults. */
  private readonly refused = new Set<string>();

  constructor(private readonly env: Env) {}

  /** The variable's value; its default when unset, empty or (after a problem) wrong. */
  read<T>(variable: Variable<T>, fallback: T = variable.fallback): T {
    const raw = this.env[variable.name];
    if (raw === undefined || raw === '') return fallback;
    const parsed = variable.parse(raw);
    if ('value' in parsed) return parsed.value;
    this.problem(variable, raw, parsed.expected);
    this.refused.add(variable.name);
    return fallback;
  }

  /** Whether every one of `variables` was read as given (or unset): cross-field checks ask first. */
  usable(...variables: Variable<unknown>[]): boolean {
    return variables.every((variable) => !this.refused.has(variable.name));
  }

  /** Every variable of a section, by the section's own names for them. */
  all<S extends Record<string, Variable<unknown>>>(section: S): Values<S> {
    const values: Record<string, unknown> = {};
    for (const [key, variable] of Object.entries(section)) values[key] = this.read(variable);
    return values as Values<S>;
  }

  /**
   * A problem a cross-field check found. A secret is shown only as its
   * `redact` has it (a URL without its password).
   */
  problem(variable: Variable<unknown>, raw: string, expected: string): void {
    const shown = JSON.stringify(variable.secret ? variable.redact(raw) : raw);
    this.problems.add(`  ${variable.name}=${shown}: expected ${expected}`);
  }

  /** Whether the variable is set, but to nothing (read as unset: its default). */
  setEmpty(variable: Variable<unknown>): boolean {
    return this.env[variable.name] === '';
  }

  /** The raw text of a variable, for a cross-field check's message. */
  raw(variable: Variable<unknown>): string {
    return this.env[variable.name] ?? '';
  }

  finish(): void {
    if (this.problems.size === 0) return;
    throw new ConfigError(
      `invalid configuration:\n${[...this.problems].join('\n')}\n` +
        'Fix these in the environment or in .env (every variable is listed in .env.example).',
    );
  }
}

type DeepReadonly<T> = T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** Reads a whole process configuration with `build`, fails with every problem, freezes it. */
export function load<T>(env: Env, build: (read: Reader) => T): DeepReadonly<T> {
  const reader = new Reader(env);
  const config = build(reader);
  reader.finish();
  return deepFreeze(config) as DeepReadonly<T>;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
