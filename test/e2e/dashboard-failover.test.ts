import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { main } from '../sandbox/demo.ts';
import { startTestSandbox } from '../support/sandbox-driver.ts';

/**
 * The dashboard after a failover, as headless Chromium renders it (its script run, the DOM dumped):
 * the execution with its step, the appliances' roles, the DNS record and the Slack message with
 * its lines. Skipped where Chromium is not installed (`apt-get install -y chromium`).
 */
const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path));

let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

const renderedText = async (url: string) => {
  // Fixed arguments, no shell; virtual time lets the page's first poll of /sandbox/state finish.
  const { stdout } = await promisify(execFile)(
    chromium!,
    ['--headless', '--no-sandbox', '--disable-gpu', '--virtual-time-budget=3000', '--dump-dom', url],
    { timeout: 60_000, maxBuffer: 32 * 1024 * 1024 },
  );
  return stdout.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
};

describe.skipIf(!chromium)('the sandbox dashboard in Chromium', { timeout: 120_000 }, () => {
  it('shows a failover: execution and step, lock gone, roles swapped, DNS at the replica, the Slack message', async () => {
    sandbox = await startTestSandbox();
    const before = await renderedText(`${sandbox.url}/`);
    expect(before).toMatch(/DNS \(Route53\) \(1\) .* ghes\.sandbox\.internal A 10\.0\.1\.10 60/);

    expect(
      await main(['failover', '--url', sandbox.url, '--timeout', '60'], { log: () => {}, env: {} }),
    ).toBe(0);
    const text = await renderedText(`${sandbox.url}/`);
    expect(text).toMatch(
      /Step Functions executions \(1\) .* failover-\d{8}T\d{6}-[0-9a-f]{6} ghes-failover SUCCEEDED FailedOver/,
    );
    expect(text).toMatch(/Operation locks \(0\) .* none yet/);
    expect(text).toMatch(/ghes-primary replica on not-running/);
    expect(text).toMatch(/ghes-replica primary off/);
    expect(text).toMatch(/ghes\.sandbox\.internal A 10\.0\.2\.10 60/);
    // The message as Slack shows it: mrkdwn bold, a line per step, the outcome.
    expect(text).toMatch(/Slack, as shown \(1\) .*GHES failover ghes-primary → ghes-replica/);
    expect(text).toContain('Promote the replica (');
    expect(text).toContain(
      'Failed over: ghes-replica is primary and ghes.sandbox.internal points at 10.0.2.10.',
    );
  });
});
