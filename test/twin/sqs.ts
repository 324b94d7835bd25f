import { randomUUID } from 'node:crypto';

/**
 * An SQS queue with a Lambda event source mapping, as AWS runs it: batches of up to `batchSize`,
 * messages invisible while a batch is handled, partial failures through `batchItemFailures`, a
 * thrown error returns the whole batch, and a message received `maxReceiveCount` times moves to
 * the dead-letter queue. A message whose visibility timeout runs out while its batch is still being
 * handled is delivered again (AWS does; the visibility timeout must outlive the function timeout so
 * it never happens), and the late outcome of the older receive no longer counts: its receipt handle
 * is stale.
 */
export interface SqsMessage {
  readonly messageId: string;
  readonly body: string;
  receiveCount: number;
  visibleAt: number;
  readonly sentAt: number;
}

export interface SqsBatchResult {
  batchItemFailures?: { itemIdentifier: string }[];
}

export type SqsConsumer = (messages: readonly SqsMessage[]) => Promise<SqsBatchResult | void>;

/** One receive of one message, and what became of it. */
export interface SqsReceipt {
  readonly messageId: string;
  readonly receiveCount: number;
  readonly receivedAt: number;
  settledAt?: number;
  /** `stale`: the batch ended after the message had been received again; its outcome was ignored. */
  outcome?: 'deleted' | 'returned' | 'dead-lettered' | 'stale';
}

export interface QueueOptions {
  /** Real milliseconds: the twin scales the deployed value once (test/twin/dispatch-timing.ts). */
  readonly visibilityTimeoutMs: number;
  readonly maxReceiveCount: number;
  readonly batchSize: number;
  /** Batches handled at once (the mapping's maximum concurrency). */
  readonly concurrency: number;
}

export class TwinQueue {
  readonly messages: SqsMessage[] = [];
  readonly deadLetters: SqsMessage[] = [];
  /** Messages ever sent, whatever became of them since. */
  sent = 0;
  /** Every receive, in order: tests check that no message was handled by two batches at once. */
  readonly receipts: SqsReceipt[] = [];
  #consumer: SqsConsumer | undefined;
  #running = 0;
  #scheduled = false;
  #closed = false;
  #timer: (() => void) | undefined;
  /** Called when a message lands in the dead-letter queue (the twin's stand-in for the DLQ alarm). */
  onDeadLetter: (message: SqsMessage) => void = () => {};

  constructor(
    readonly name: string,
    private readonly options: QueueOptions,
  ) {}

  send(body: string): string {
    const messageId = randomUUID();
    this.sent += 1;
    this.messages.push({ messageId, body, receiveCount: 0, visibleAt: 0, sentAt: Date.now() });
    this.#kick();
    return messageId;
  }

  attach(consumer: SqsConsumer): void {
    this.#consumer = consumer;
    this.#kick();
  }

  get depth(): number {
    return this.messages.length;
  }

  /** Resolves once no message is visible or in flight (tests and benchmarks wait on it). */
  async drained(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length > 0 || this.#running > 0) {
      if (Date.now() > deadline) throw new Error(`queue ${this.name} not drained after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  close(): void {
    this.#closed = true;
    this.#timer?.();
  }

  #kick() {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#poll();
    });
  }

  #poll() {
    if (!this.#consumer || this.#closed) return;
    while (this.#running < this.options.concurrency) {
      const now = Date.now();
      // SQS moves a message to the DLQ on the receive that would exceed maxReceiveCount, even if
      // the batch that received it last is still running.
      for (const spent of this.messages.filter(
        (m) => m.visibleAt <= now && m.receiveCount >= this.options.maxReceiveCount,
      )) {
        this.#deadLetter(spent);
      }
      const batch = this.messages.filter((m) => m.visibleAt <= now).slice(0, this.options.batchSize);
      if (batch.length === 0) break;
      const hidden = now + this.options.visibilityTimeoutMs;
      const receipts = batch.map((message) => {
        message.receiveCount++;
        message.visibleAt = hidden;
        const receipt: SqsReceipt = {
          messageId: message.messageId,
          receiveCount: message.receiveCount,
          receivedAt: now,
        };
        this.receipts.push(receipt);
        return receipt;
      });
      this.#running++;
      void this.#deliver(batch, receipts).finally(() => {
        this.#running--;
        this.#kick();
      });
    }
    // Wake up when the next invisible message becomes visible again.
    const next = Math.min(...this.messages.map((m) => m.visibleAt));
    this.#timer?.();
    if (Number.isFinite(next) && next > Date.now()) {
      const timer = setTimeout(() => this.#kick(), next - Date.now() + 1);
      this.#timer = () => clearTimeout(timer);
    }
  }

  async #deliver(batch: SqsMessage[], receipts: SqsReceipt[]) {
    let failed: Set<string>;
    try {
      const result = await this.#consumer!(batch);
      failed = new Set((result?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch {
      failed = new Set(batch.map((m) => m.messageId)); // a thrown error returns the whole batch
    }
    batch.forEach((message, i) => {
      const receipt = receipts[i]!;
      receipt.settledAt = Date.now();
      if (message.receiveCount !== receipt.receiveCount || !this.messages.includes(message)) {
        // Received again (or dead-lettered) meanwhile: this receipt handle no longer deletes it.
        receipt.outcome = 'stale';
      } else if (!failed.has(message.messageId)) {
        this.#remove(message);
        receipt.outcome = 'deleted';
      } else if (message.receiveCount >= this.options.maxReceiveCount) {
        this.#deadLetter(message);
        receipt.outcome = 'dead-lettered';
      } else {
        receipt.outcome = 'returned';
      }
    });
  }

  /** Receipts of one message whose handling overlapped in time: the message was handled twice at once. */
  overlappingReceipts(): [SqsReceipt, SqsReceipt][] {
    const overlaps: [SqsReceipt, SqsReceipt][] = [];
    this.receipts.forEach((later, i) => {
      for (const earlier of this.receipts.slice(0, i)) {
        if (earlier.messageId !== later.messageId) continue;
        if ((earlier.settledAt ?? Infinity) > later.receivedAt) overlaps.push([earlier, later]);
      }
    });
    return overlaps;
  }

  #deadLetter(message: SqsMessage) {
    this.#remove(message);
    this.deadLetters.push(message);
    this.onDeadLetter(message);
  }

  #remove(message: SqsMessage) {
    const index = this.messages.indexOf(message);
    if (index >= 0) this.messages.splice(index, 1);
  }
}
