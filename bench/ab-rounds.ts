/**
 * The interleaved rounds of the in-process A/B benches: every round measures
 * every tree once, each round starting with another tree so that none always
 * runs first, and the summary gives each tree's median and best, and its
 * median ratio to the first tree measured in the same round (drift between
 * rounds cancels).
 */

/** Samples per tree: `measure(i)` for tree i, `rounds` times each, interleaved. */
export async function interleavedRounds(
  trees: number,
  rounds: number,
  measure: (tree: number) => Promise<number>,
): Promise<number[][]> {
  const samples = Array.from({ length: trees }, (): number[] => []);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < trees; k++) {
      const i = (round + k) % trees;
      samples[i]?.push(await measure(i));
    }
  }
  return samples;
}

export function summarize(trees: readonly string[], samples: number[][]) {
  return trees.map((tree, i) => {
    const sorted = [...(samples[i] ?? [])].sort((a, b) => a - b);
    const ratios = (samples[i] ?? []).map((us, round) => us / (samples[0]?.[round] ?? us));
    ratios.sort((a, b) => a - b);
    return {
      tree,
      median_us: Number((sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(2)),
      best_us: Number((sorted[0] ?? 0).toFixed(2)),
      ratio_to_first: Number((ratios[Math.floor(ratios.length / 2)] ?? 1).toFixed(3)),
      all_us: (samples[i] ?? []).map((us) => Number(us.toFixed(2))),
    };
  });
}

/** One line a tree, then the JSON line of `header` and the summary. */
export function printSummary(
  unit: string,
  summary: ReturnType<typeof summarize>,
  header: Record<string, unknown>,
): void {
  for (const { tree, median_us, best_us, ratio_to_first } of summary) {
    console.log(
      `${tree.padEnd(40)} median ${median_us.toFixed(2)} µs, best ${best_us.toFixed(2)} µs per ${unit}, ${ratio_to_first.toFixed(3)} of the first tree's (median per round)`,
    );
  }
  console.log(JSON.stringify({ ...header, summary }));
}

interface Subject {
  stop(): Promise<void>;
}

/**
 * Starts a subject per tree, warms each up, measures the CPU time of this
 * process per operation of `work` (n operations) in interleaved rounds of
 * `requests` each, stops the subjects and prints the summary.
 */
export async function runAb<S extends Subject>(options: {
  trees: readonly string[];
  start: (tree: string, index: number) => Promise<S>;
  work: (subject: S, n: number) => Promise<void>;
  rounds: number;
  requests: number;
  unit: string;
  header: Record<string, unknown>;
}): Promise<void> {
  const { trees, start, work, rounds, requests } = options;
  const measure = async (subject: S, n: number) => {
    const before = process.cpuUsage();
    await work(subject, n);
    const used = process.cpuUsage(before);
    return (used.user + used.system) / n;
  };
  const subjects: S[] = [];
  for (const [i, tree] of trees.entries()) subjects.push(await start(tree, i));
  for (const subject of subjects) await measure(subject, Math.min(requests, 5000)); // warm-up
  const samples = await interleavedRounds(subjects.length, rounds, (i) =>
    measure(subjects[i] as S, requests),
  );
  for (const subject of subjects) await subject.stop();
  printSummary(options.unit, summarize(trees, samples), options.header);
}
