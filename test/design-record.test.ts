/**
 * The design record is part of the repository: README points at it, and its
 * sections keep their names so that decisions land where readers look for them.
 */
import { describe, expect, it } from 'bun:test';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dir, '..');
const designPath = resolve(root, 'docs/DESIGN.md');

const SECTIONS = [
  'Shape',
  'Wire protocol',
  'Connection pool',
  'Passwords and the login fast path',
  'Sessions',
  'Data',
  'Run modes',
  'Layout',
];

describe('design record', () => {
  it('should be in the repository with its sections in their order', () => {
    expect(existsSync(designPath)).toBe(true);
    const headings = readFileSync(designPath, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('## '))
      .map((line) => line.slice(3));
    const stable = headings.filter((h) => SECTIONS.some((s) => h.startsWith(s)));
    expect(stable.map((h) => SECTIONS.find((s) => h.startsWith(s)))).toEqual(SECTIONS);
  });

  it('should be what README points at, with no list of refinements kept in README', () => {
    const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
    expect(readme).toContain('docs/DESIGN.md');
    expect(readme).not.toContain('Where this refines DESIGN.md');
  });

  it('should hold the decisions README used to list beside it', () => {
    const design = readFileSync(designPath, 'utf8');
    expect(design).toContain('tombstone');
    expect(design).toContain('SET NX');
    expect(design).toMatch(/token also carries the username/);
  });
});
