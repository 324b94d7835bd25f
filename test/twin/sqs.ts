import { randomUUID } from 'node:crypto';
import type { TwinClock } from './clock.ts';

/**
 * An SQS queue with a Lambda event source mapping, as AWS runs it: batches of up to `batchSize`,
 * messages invisible while a batch is handled, partial failures through `batchItemFailures`, a
 * thrown error returns the whole batch, and a message received `maxReceiveCount` times moves to
 * the dead-letter queue.
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

export interface QueueOptions {
  /** Simulated milliseconds; scaled by the clock. AWS default is 30 s. */
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
    private readonly clock: TwinClock,
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
      const batch = this.messages.filter((m) => m.visibleAt <= now).slice(0, this.options.batchSize);
      if (batch.length === 0) break;
      const hidden = now + this.options.visibilityTimeoutMs * this.clock.timeScale;
      for (const message of batch) {
        message.receiveCount++;
        message.visibleAt = hidden;
      }
      this.#running++;
      void this.#deliver(batch).finally(() => {
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

  async #deliver(batch: SqsMessage[]) {
    let failed: Set<string>;
    try {
      const result = await this.#consumer!(batch);
      failed = new Set((result?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch {
      failed = new Set(batch.map((m) => m.messageId)); // a thrown error returns the whole batch
    }
    for (const message of batch) {
      if (!failed.has(message.messageId)) {
        this.#remove(message);
      } else if (message.receiveCount >= this.options.maxReceiveCount) {
        this.#remove(message);
        this.deadLetters.push(message);
        this.onDeadLetter(message);
      }
    }
  }

  #remove(message: SqsMessage) {
    const index = this.messages.indexOf(message);
    if (index >= 0) this.messages.splice(index, 1);
  }
}
