import { beforeAll, describe, expect, it } from 'vitest';
import { METRIC, METRICS_NAMESPACE } from '../../shared/observability/metrics.ts';
import names from '../../shared/observability/metric-names.json' with { type: 'json' };
import { packageForStage, type PackagedTemplate } from './packaged-template.ts';

/**
 * The runner pools' alarms and dashboard as `osls package` builds them: each alarm watches the
 * metric the runbook says, at its threshold, and tells the alerts topic; the dashboard shows only
 * metrics the code emits, and every one of them.
 */
let template: PackagedTemplate;
beforeAll(() => {
  template = packageForStage('dev');
}, 120_000);

const alarm = (name: string) => {
  const resource = template.Resources[name];
  expect(resource?.Type, `${name} is an alarm`).toBe('AWS::CloudWatch::Alarm');
  return resource!.Properties as Record<string, unknown>;
};

const toAlerts = { AlarmActions: [{ Ref: 'AlertsTopic' }] };

/** A metric row of a dashboard widget: namespace, name, dimension pairs, then options. */
type MetricRow = (string | Record<string, unknown>)[];

/** The dashboard body with each intrinsic written as `<Ref:Name>` / `<GetAtt:Name.Attr>`, parsed. */
const dashboard = () => {
  const body = template.Resources.RunnerPoolsDashboard!.Properties!.DashboardBody as {
    'Fn::Join': [string, (string | Record<string, unknown>)[]];
  };
  const text = body['Fn::Join'][1]
    .map((piece) => {
      if (typeof piece === 'string') return piece;
      if ('Ref' in piece) return `<Ref:${String(piece.Ref)}>`;
      return `<GetAtt:${(piece['Fn::GetAtt'] as string[]).join('.')}>`;
    })
    .join('');
  return JSON.parse(text) as { widgets: { properties: { region: string; metrics: MetricRow[] } }[] };
};
const rowsOf = (namespace: string) =>
  dashboard()
    .widgets.flatMap((widget) => widget.properties.metrics)
    .filter((row) => row[0] === namespace);

describe('runner pool alarms', () => {
  it('alarms when the oldest queued job has waited over 10 minutes, on the metric the reconciler emits', () => {
    expect(alarm('OldestQueuedJobAlarm')).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: METRIC.oldestQueuedAge,
      Dimensions: [{ Name: 'service', Value: names.service }],
      Statistic: 'Maximum',
      Threshold: 600,
      ComparisonOperator: 'GreaterThanThreshold',
      ...toAlerts,
    });
  });

  it('alarms on the reconciler’s and the dispatcher’s Lambda errors', () => {
    for (const [name, fn] of [
      ['ReconcilerErrorsAlarm', 'RunnerDashreconcilerLambdaFunction'],
      ['DispatcherErrorsAlarm', 'RunnerDashdispatcherLambdaFunction'],
    ]) {
      expect(template.Resources[fn!]?.Type).toBe('AWS::Lambda::Function');
      expect(alarm(name!), name).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: fn } }],
        Statistic: 'Sum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        ...toAlerts,
      });
    }
  });

  it('alarms as soon as one message sits in the dispatch DLQ', () => {
    expect(alarm('DispatchDeadLetterAlarm')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['DispatchDeadLetterQueue', 'QueueName'] } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      ...toAlerts,
    });
  });
});

describe('runner pool dashboard', () => {
  it('shows every metric the code emits, under the dimensions it emits them with', () => {
    const rows = rowsOf(METRICS_NAMESPACE);
    const shown = new Set(rows.map((row) => row[1]));
    expect([...shown].sort()).toEqual(Object.values(METRIC).sort());
    for (const row of rows) {
      const dimensions = row.slice(2).filter((cell) => typeof cell === 'string');
      expect(dimensions.slice(0, 2), String(row[1])).toEqual(['service', names.service]);
      // Launches carry a provider dimension set (dispatch-metrics.ts); nothing else adds one.
      const extra = dimensions.slice(2);
      expect(extra, String(row[1])).toEqual(
        row[1] === METRIC.runnerLaunches ? ['provider', expect.any(String)] : [],
      );
    }
  });

  it('shows the providers a pool can name, queue time and dispatch latency at p50 and p99', () => {
    const rows = rowsOf(METRICS_NAMESPACE);
    const providers = rows.filter((row) => row[1] === METRIC.runnerLaunches).map((row) => row[5]);
    expect(providers.sort()).toEqual(['codebuild', 'ec2-wake']);
    for (const name of [METRIC.queueTime, METRIC.dispatchLatency]) {
      const stats = rows.filter((row) => row[1] === name).map((row) => (row.at(-1) as { stat: string }).stat);
      expect(stats, name).toEqual(['p50', 'p99']);
    }
  });

  it('shows the DLQ depth and each function’s Lambda errors and throttles, by the stack’s own names', () => {
    const sqs = rowsOf('AWS/SQS');
    expect(sqs).toContainEqual(
      expect.arrayContaining([
        'ApproximateNumberOfMessagesVisible',
        '<GetAtt:DispatchDeadLetterQueue.QueueName>',
      ]),
    );
    const lambda = rowsOf('AWS/Lambda').map((row) => `${row[1]} ${row[3]}`);
    for (const fn of Object.keys(template.Resources).filter(
      (name) => template.Resources[name]!.Type === 'AWS::Lambda::Function',
    )) {
      expect(lambda).toContain(`Errors <Ref:${fn}>`);
      expect(lambda).toContain(`Throttles <Ref:${fn}>`);
    }
    expect(new Set(dashboard().widgets.map((widget) => widget.properties.region))).toEqual(
      new Set(['<Ref:AWS::Region>']),
    );
  });
});
