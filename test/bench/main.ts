import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFunctionLogFile } from '../twin/function-logs.ts';
import { benchChaos, benchCost } from './chaos.ts';
import { benchFailoverOverhead } from './failover.ts';
import { benchBurst, benchDispatcherInit, benchDispatchLatency } from './dispatch.ts';
import { benchBundles, benchHandlerVsFloor, benchInit, benchSandboxRoundTrip } from './webhook.ts';
import { benchWebhookOnTheWire } from './webhook-wire.ts';

/**
 * `npm run bench`: figures measured side by side in one run. Absolute times are noisy on a shared
 * 2-core machine; compare the ratios. `npm run bench -- --readme` also writes the output into the
 * README between its bench markers, so the figures there are this run's, word for word.
 * `--skip chaos,burst` leaves sections out (the chaos run takes many minutes); `--burst-jobs N` sizes
 * the burst (default 1,000).
 */
const option = (name: string) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
};
// The sandboxes' function logs (the chaos section's injected faults make handlers log errors with
// stack traces) go to this file, named once at the end, instead of between the figures.
const functionLogFile = fileURLToPath(new URL('../../test-results/bench-function-logs.log', import.meta.url));
mkdirSync(new URL('../../test-results/', import.meta.url), { recursive: true });
writeFileSync(functionLogFile, '');
setFunctionLogFile(functionLogFile);

const skipped = new Set((option('--skip') ?? '').split(',').filter(Boolean));
const burstJobs = Number(option('--burst-jobs') ?? 1_000);
const sections: [string, () => Promise<string[]> | string[]][] = [
  ['bundles', benchBundles],
  ['init', benchInit],
  ['wire', benchWebhookOnTheWire],
  ['floor', benchHandlerVsFloor],
  ['sandbox', benchSandboxRoundTrip],
  ['dispatcher-init', benchDispatcherInit],
  ['latency', benchDispatchLatency],
  ['burst', () => benchBurst(burstJobs)],
  ['chaos', benchChaos],
  ['cost', benchCost],
  ['failover', benchFailoverOverhead],
];
const output: string[] = [];
for (const [name, section] of sections) {
  if (skipped.has(name)) {
    output.push(`(${name}: not run this time, --skip)`, '');
    continue;
  }
  const lines = await section();
  for (const line of lines) console.log(line);
  console.log();
  output.push(...lines, '');
}

if (process.argv.includes('--readme')) {
  const readme = new URL('../../README.md', import.meta.url);
  const text = readFileSync(readme, 'utf8');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README.md has no ${start} … ${end} block to write into`);
  const stamp = `\`npm run bench\`, ${new Date().toISOString().slice(0, 10)}, ${process.version}, one run on this machine (2 cores):`;
  // Blank lines around the markers: the block comes out as Prettier would format it (npm run lint).
  const block = `${start}\n\n${stamp}\n\n\`\`\`text\n${output.join('\n').trimEnd()}\n\`\`\`\n\n`;
  writeFileSync(readme, text.slice(0, from) + block + text.slice(to));
  console.log('README.md figures rewritten from this run');
}

const logged = readFileSync(functionLogFile, 'utf8').split('\n').length - 1;
if (logged > 0)
  console.log(
    `The sandbox functions' logs of this run (${logged} lines): ${relative(process.cwd(), functionLogFile)}`,
  );
