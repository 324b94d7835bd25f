import type { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';
import names from './metric-names.json' with { type: 'json' };

/**
 * The runner pools' CloudWatch metrics, written as EMF lines on stdout (CloudWatch Logs turns them
 * into metrics; no PutMetricData call, no extra latency). The names live in metric-names.json because
 * infra/observability.yml reads the same file for the dashboard and alarms: they cannot drift apart.
 */
export const METRICS_NAMESPACE = names.namespace;
export const METRIC = names.metrics;
export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/**
 * One namespace and one `service` dimension for every function: the dispatcher and the reconciler
 * both launch runners, and a launch is one series whichever of them made it.
 */
export const createMetrics = (): Metrics =>
  new Metrics({ namespace: METRICS_NAMESPACE, serviceName: names.service });

export type MetricsLogger = Pick<Logger, 'warn'>;

/** A metric is never worth a failed invocation: a batch that fails here would be dispatched again. */
export const emitSafely = (logger: MetricsLogger, emit: () => void): void => {
  try {
    emit();
  } catch (error) {
    logger.warn('metric not emitted', { error: error as Error });
  }
};

/**
 * Flushes the buffered metrics after the handler, on success and on error, like Powertools'
 * `logMetrics`, but a flush that throws (a bad dimension, a full buffer) is logged and the handler's
 * own answer stands: `logMetrics` would turn it into a failed invocation. Nothing is flushed when
 * nothing was recorded, so the reconciler's idle runs write no "no metrics" warning every minute.
 */
export const publishMetricsSafely = (metrics: Metrics, logger: MetricsLogger): MiddlewareObj => {
  const flush = () => {
    if (metrics.hasStoredMetrics()) emitSafely(logger, () => metrics.publishStoredMetrics());
  };
  return { after: flush, onError: flush };
};
