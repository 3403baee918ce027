/**
 * `bun bench/capacity.ts [--data bench/tier-costs.json] [--write]`
 *
 * Computes the capacity model of docs/SCALING.md (bench/capacity-model.ts)
 * from the figures bench/tier-costs.ts saved, and prints each generated block;
 * with `--write`, replaces the blocks in docs/SCALING.md, each between
 * `<!-- generated:NAME -->` and `<!-- end:NAME -->`. After a new
 * `bun bench/tier-costs.ts --write bench/tier-costs.json`, run this with
 * `--write` and put the new measured table (printed last here) in
 * bench/RESULTS.md: test/scaling-doc.test.ts checks that all three agree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { generatedBlocks, sizesTable } from './capacity-model.ts';
import { measuredTable, runsTable, type TierCosts } from './tier-costs-data.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: `${import.meta.dir}/tier-costs.json` },
    doc: { type: 'string', default: `${import.meta.dir}/../docs/SCALING.md` },
    write: { type: 'boolean', default: false },
  },
});

const data = JSON.parse(readFileSync(values.data, 'utf8')) as TierCosts;
const blocks = { measured: measuredTable(data), ...generatedBlocks(data) };

if (values.write) {
  let doc = readFileSync(values.doc, 'utf8');
  for (const [name, text] of Object.entries(blocks)) {
    const pattern = new RegExp(
      `<!-- generated:${name} -->\\n(?:[\\s\\S]*?\\n)?<!-- end:${name} -->`,
    );
    if (!pattern.test(doc)) throw new Error(`${values.doc} has no block "${name}"`);
    doc = doc.replace(pattern, () => `<!-- generated:${name} -->\n${text}\n<!-- end:${name} -->`);
  }
  writeFileSync(values.doc, doc);
  console.log(`${values.doc}: ${Object.keys(blocks).length} blocks written`);
} else {
  console.log('For bench/RESULTS.md: the medians (M1), every run, and the other figures\n');
  console.log(`${measuredTable(data)}\n\n${runsTable(data)}\n\n${sizesTable(data)}\n`);
  console.log('The blocks of docs/SCALING.md\n');
  for (const [name, text] of Object.entries(blocks)) console.log(`<!-- ${name} -->\n${text}\n`);
}
