import { benchChaos, benchCost } from './chaos.ts';
import { benchBurst, benchDispatcherInit, benchDispatchLatency } from './dispatch.ts';
import { benchBundles, benchHandlerVsFloor, benchInit, benchSandboxRoundTrip } from './webhook.ts';

/**
 * `npm run bench`: figures measured side by side in one run. Absolute times are noisy on a shared
 * 2-core machine; compare the ratios.
 */
const sections: (() => Promise<string[]> | string[])[] = [
  benchBundles,
  benchInit,
  benchHandlerVsFloor,
  benchSandboxRoundTrip,
  benchDispatcherInit,
  benchDispatchLatency,
  benchBurst,
  benchChaos,
  benchCost,
];
for (const section of sections) {
  for (const line of await section()) console.log(line);
  console.log();
}
