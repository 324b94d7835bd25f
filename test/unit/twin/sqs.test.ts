import { describe, expect, it } from 'vitest';
import { TwinQueue, type SqsMessage } from '../../twin/sqs.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const queueOf = (visibilityTimeoutMs: number, maxReceiveCount = 5) =>
  new TwinQueue('q', { visibilityTimeoutMs, maxReceiveCount, batchSize: 10, concurrency: 5 });

describe('twin SQS queue with a Lambda event source mapping', () => {
  it('moves a message to the dead-letter queue on the receive past maxReceiveCount, even while a batch still holds it', async () => {
    // Prepare: every batch outlives the 30 ms visibility timeout, then fails.
    const queue = queueOf(30, 2);
    const received: number[] = [];
    queue.attach(async (messages: readonly SqsMessage[]) => {
      received.push(...messages.map((m) => m.receiveCount));
      await sleep(100);
      throw new Error('handler failed');
    });

    // Act
    queue.send('{}');
    await sleep(250);
    queue.close();

    // Assess
    expect(received).toEqual([1, 2]);
    expect(queue.deadLetters).toHaveLength(1);
    expect(queue.depth).toBe(0);
  });

  it('reports a message handled by two batches at once, and ignores the outcome of the older one', async () => {
    // Prepare: the first batch takes 80 ms against a 30 ms visibility timeout; the second is quick.
    const queue = queueOf(30);
    let calls = 0;
    queue.attach(async () => {
      if (++calls === 1) await sleep(80);
    });

    // Act
    queue.send('{}');
    await queue.drained(1_000); // both batches done
    queue.close();

    // Assess
    expect(queue.receipts.map((r) => [r.receiveCount, r.outcome])).toEqual([
      [1, 'stale'],
      [2, 'deleted'],
    ]);
    expect(queue.overlappingReceipts()).toHaveLength(1);
  });

  it('reports no overlap when every batch ends within the visibility timeout', async () => {
    // Prepare
    const queue = queueOf(200);
    queue.attach(async () => {
      await sleep(10);
    });

    // Act
    queue.send('{}');
    queue.send('{}');
    await queue.drained(1_000);
    queue.close();

    // Assess
    expect(queue.receipts.map((r) => r.outcome)).toEqual(['deleted', 'deleted']);
    expect(queue.overlappingReceipts()).toEqual([]);
  });
});
