/**
 * Names that look like one of ours but are not: a misspelt variable is
 * otherwise ignored without a word (`REDIS_UR` ran the stack without its
 * cache, `HTTP_PROCESS=1` still started two HTTP servers). Warned about, not
 * refused: the environment holds other programs' variables too.
 * - in the environment, a name within two edits of a declared one, with the
 *   same first word (HTTP_PROXY is three edits from HTTP_PORT);
 * - in `.env` and `.env.local` (which Bun reads into the environment), every
 *   name that is not declared: those files are this program's alone.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { declaredVariables } from './declared.ts';
import type { Env } from './variable.ts';

/** Set by the launcher for its children, never by hand. */
const INTERNAL = new Set(['USERMGR_SUPERVISED', 'USERMGR_LAUNCHER_PID']);
const ENV_FILES = ['.env', '.env.local'];
const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/gm;

/** Levenshtein distance, stopping early past `limit`. */
function distance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** The declared name within two edits of `name`, whatever its case (`http_port` is HTTP_PORT misspelt). */
function closest(name: string, declared: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  const upper = name.toUpperCase();
  for (const candidate of declared) {
    const d = distance(upper, candidate, 2);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** The names of the assignments in the env files in `dir` that exist. */
function namesInEnvFiles(dir: string): { file: string; name: string }[] {
  const found: { file: string; name: string }[] = [];
  for (const file of ENV_FILES) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue; // unreadable: Bun did not read it either
    }
    for (const match of text.matchAll(ASSIGNMENT)) found.push({ file, name: match[1] as string });
  }
  return found;
}

/** One line per name that looks meant for usermgr but is not one of its variables. */
export function unknownVariableWarnings(env: Env, dir = process.cwd()): string[] {
  const declared = declaredVariables().map((v) => v.name);
  const known = new Set([...declared, ...INTERNAL]);
  const lines: string[] = [];
  const warned = new Set<string>();
  const suggestion = (name: string) => {
    const near = closest(name, declared);
    return near === null ? '' : `; did you mean ${near}?`;
  };
  for (const { file, name } of namesInEnvFiles(dir)) {
    if (known.has(name) || warned.has(name)) continue;
    warned.add(name);
    lines.push(
      `warning: ${name} in ${file} is not a usermgr variable, so it changes nothing${suggestion(name)}`,
    );
  }
  for (const name of Object.keys(env)) {
    if (known.has(name) || warned.has(name)) continue;
    const near = closest(name, declared);
    if (near === null || near.split('_')[0] !== name.toUpperCase().split('_')[0]) continue;
    warned.add(name);
    lines.push(
      `warning: ${name} is not a usermgr variable, so it changes nothing; did you mean ${near}?`,
    );
  }
  return lines;
}
