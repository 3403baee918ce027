/**
 * docs/SCALING.md is computed, not typed: its tables are what
 * bench/capacity-model.ts makes of the figures in bench/tier-costs.json, and
 * bench/RESULTS.md records the same measured table. Every reference in it
 * ([A1], [M3], a RESULTS.md section) must lead somewhere.
 */
import { describe, expect, it } from 'bun:test';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { generatedBlocks, sizesTable } from '../bench/capacity-model.ts';
import { measuredTable, runsTable, type TierCosts } from '../bench/tier-costs-data.ts';

const root = resolve(import.meta.dir, '..');
const read = (path: string) => readFileSync(resolve(root, path), 'utf8');
const doc = read('docs/SCALING.md');
const results = read('bench/RESULTS.md');
const data = JSON.parse(read('bench/tier-costs.json')) as TierCosts;

/** The text between `<!-- generated:NAME -->` and `<!-- end:NAME -->`, or null. */
function block(name: string): string | null {
  const match = new RegExp(`<!-- generated:${name} -->\\n([\\s\\S]*?)\\n<!-- end:${name} -->`).exec(
    doc,
  );
  return match ? (match[1] as string) : null;
}

describe('docs/SCALING.md', () => {
  it('should show what the model computes from bench/tier-costs.json (else: bun bench/capacity.ts --write)', () => {
    const blocks = { measured: measuredTable(data), ...generatedBlocks(data) };
    for (const [name, text] of Object.entries(blocks)) expect(block(name)).toBe(text);
  });

  it('should use the figures that bench/RESULTS.md records', () => {
    expect(results).toContain(measuredTable(data));
    expect(results).toContain(runsTable(data));
    expect(results).toContain(sizesTable(data));
  });

  it('should define every [A…] and [M…] it refers to', () => {
    const defined = new Set([...doc.matchAll(/\*\*([AM]\d+)\*\*/g)].map((m) => m[1]));
    const used = new Set([...doc.matchAll(/\b([AM]\d+)\b/g)].map((m) => m[1]));
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((ref) => !defined.has(ref))).toEqual([]);
  });

  it('should cite only sections that bench/RESULTS.md has', () => {
    const headings = results
      .split('\n')
      .filter((line) => line.startsWith('#'))
      .map((line) => line.replace(/^#+\s*/, ''));
    const cited = [...doc.matchAll(/RESULTS\.md, "([^"]+)"/g)].map((m) => m[1] as string);
    expect(cited.length).toBeGreaterThan(0);
    expect(cited.filter((section) => !headings.includes(section))).toEqual([]);
  });

  it('should be what README points at when it speaks of scaling out', () => {
    const readme = read('README.md');
    const scaling = readme.slice(
      readme.indexOf('## Scaling out'),
      readme.indexOf('## Configuration'),
    );
    expect(scaling).toContain('docs/SCALING.md');
  });
});
