// Serverless variable source: the runner pools' CloudWatch dashboard body. Metric names come from
// shared/observability/metric-names.json, the file the Lambdas emit from, so the dashboard cannot
// name a metric the code does not write. The body is JSON text with the stack's names in it (region,
// function names, queue names): built here as Fn::Join pieces, since a `${…}` in a value would be
// read by Serverless as its own variable.
const names = require('../shared/observability/metric-names.json');

const NS = names.namespace;
const M = names.metrics;
const SERVICE = ['service', names.service];

/** Intrinsics, as placeholders in the JSON text and as CloudFormation values. */
const intrinsics = {
  '@@REGION@@': { Ref: 'AWS::Region' },
  '@@WEBHOOK@@': { Ref: 'GithubDashwebhookLambdaFunction' },
  '@@DISPATCHER@@': { Ref: 'RunnerDashdispatcherLambdaFunction' },
  '@@RECONCILER@@': { Ref: 'RunnerDashreconcilerLambdaFunction' },
  '@@MAINTENANCE@@': { Ref: 'PoolDashmaintenanceLambdaFunction' },
  '@@NOTIFIER@@': { Ref: 'DeployDashnotifierLambdaFunction' },
  '@@FAILOVERCONTROL@@': { Ref: 'GhesDashfailoverDashcontrolLambdaFunction' },
  '@@FAILOVERAPPLIANCE@@': { Ref: 'GhesDashfailoverDashapplianceLambdaFunction' },
  '@@FAILOVERPROMOTE@@': { Ref: 'GhesDashfailoverDashpromoteLambdaFunction' },
  '@@FAILOVERDNS@@': { Ref: 'GhesDashfailoverDashdnsLambdaFunction' },
  '@@SLACKCOMMAND@@': { Ref: 'SlackDashcommandLambdaFunction' },
  '@@SLACKINTERACTION@@': { Ref: 'SlackDashinteractionLambdaFunction' },
  '@@FAILOVERMACHINE@@': { Ref: 'GhesFailoverStateMachine' },
  '@@DLQ@@': { 'Fn::GetAtt': ['DispatchDeadLetterQueue', 'QueueName'] },
  '@@QUEUE@@': { 'Fn::GetAtt': ['DispatchQueue', 'QueueName'] },
};

const OPERATIONS_FUNCTIONS = [
  ['@@FAILOVERCONTROL@@', 'failover control'],
  ['@@FAILOVERAPPLIANCE@@', 'failover appliance'],
  ['@@FAILOVERPROMOTE@@', 'failover promote'],
  ['@@FAILOVERDNS@@', 'failover dns'],
  ['@@SLACKCOMMAND@@', 'slack command'],
  ['@@SLACKINTERACTION@@', 'slack interaction'],
];

const custom = (name, stat, label, extra = []) => [NS, name, ...SERVICE, ...extra, { stat, label }];

const widget = (x, y, title, metrics, props = {}) => ({
  type: 'metric',
  x,
  y,
  width: 12,
  height: 6,
  properties: { title, region: '@@REGION@@', period: 60, view: 'timeSeries', metrics, ...props },
});

const lambda = (metric, fn, label) => ['AWS/Lambda', metric, 'FunctionName', fn, { stat: 'Sum', label }];

const body = () => ({
  widgets: [
    widget(0, 0, 'Queue time: GitHub created → runner started (s)', [
      custom(M.queueTime, 'p50', 'p50'),
      custom(M.queueTime, 'p99', 'p99'),
    ]),
    widget(12, 0, 'Dispatch latency: queued webhook → launch started (s)', [
      custom(M.dispatchLatency, 'p50', 'p50'),
      custom(M.dispatchLatency, 'p99', 'p99'),
    ]),
    widget(
      0,
      6,
      'Runner launches by provider',
      [
        custom(M.runnerLaunches, 'Sum', 'ec2-wake', ['provider', 'ec2-wake']),
        custom(M.runnerLaunches, 'Sum', 'codebuild', ['provider', 'codebuild']),
      ],
      { stacked: true },
    ),
    widget(12, 6, 'Fallbacks and jobs left without a runner', [
      custom(M.fallbackLaunches, 'Sum', 'launched in a fallback pool'),
      custom(M.noCapacity, 'Sum', 'left queued: no capacity'),
      custom(M.launchRefused, 'Sum', 'left queued: AWS refused (alert raised)'),
      custom(M.unmatched, 'Sum', 'unmatched: no pool for its labels'),
    ]),
    widget(
      0,
      12,
      'Oldest queued job (s); alarm above 600',
      [custom(M.oldestQueuedAge, 'Maximum', 'oldest queued')],
      {
        annotations: { horizontal: [{ label: '10 minutes', value: 600 }] },
      },
    ),
    widget(12, 12, 'Reconciler actions per minute', [
      custom(M.reconcilerDispatches, 'Sum', 'dispatched'),
      custom(M.reconcilerRelaunches, 'Sum', 'relaunched (launch gone)'),
      custom(M.reconcilerReleases, 'Sum', 'slots released (completed lost)'),
      custom(M.reconcilerClosed, 'Sum', 'closed as on GitHub'),
      custom(M.reconcilerRedeliveries, 'Sum', 'webhooks redelivered'),
      custom(M.reconcilerDiscovered, 'Sum', 'jobs discovered'),
      custom(M.orphansRemoved, 'Sum', 'orphan registrations removed'),
      custom(M.reconcilerFailures, 'Sum', 'failed (retried next run)'),
    ]),
    widget(0, 18, 'Dispatch queue and DLQ', [
      [
        'AWS/SQS',
        'ApproximateNumberOfMessagesVisible',
        'QueueName',
        '@@DLQ@@',
        { stat: 'Maximum', label: 'DLQ depth' },
      ],
      [
        'AWS/SQS',
        'ApproximateAgeOfOldestMessage',
        'QueueName',
        '@@QUEUE@@',
        { stat: 'Maximum', label: 'dispatch queue: oldest message (s)' },
      ],
    ]),
    widget(12, 18, 'Lambda errors and throttles', [
      lambda('Errors', '@@WEBHOOK@@', 'webhook errors'),
      lambda('Errors', '@@DISPATCHER@@', 'dispatcher errors'),
      lambda('Errors', '@@RECONCILER@@', 'reconciler errors'),
      lambda('Errors', '@@MAINTENANCE@@', 'pool maintenance errors'),
      lambda('Errors', '@@NOTIFIER@@', 'deploy notifier errors'),
      lambda('Throttles', '@@WEBHOOK@@', 'webhook throttles'),
      lambda('Throttles', '@@DISPATCHER@@', 'dispatcher throttles'),
      lambda('Throttles', '@@RECONCILER@@', 'reconciler throttles'),
      lambda('Throttles', '@@MAINTENANCE@@', 'pool maintenance throttles'),
      lambda('Throttles', '@@NOTIFIER@@', 'deploy notifier throttles'),
    ]),
    // The GHES operations half: its functions, and how failovers end (FAILED includes aborts).
    widget(0, 24, 'GHES operations: Lambda errors and throttles', [
      ...OPERATIONS_FUNCTIONS.map(([ref, label]) => lambda('Errors', ref, `${label} errors`)),
      ...OPERATIONS_FUNCTIONS.map(([ref, label]) => lambda('Throttles', ref, `${label} throttles`)),
    ]),
    widget(12, 24, 'GHES failover executions', [
      [
        'AWS/States',
        'ExecutionsSucceeded',
        'StateMachineArn',
        '@@FAILOVERMACHINE@@',
        { stat: 'Sum', label: 'failed over / dry run' },
      ],
      [
        'AWS/States',
        'ExecutionsFailed',
        'StateMachineArn',
        '@@FAILOVERMACHINE@@',
        { stat: 'Sum', label: 'aborted, failed or needs an operator' },
      ],
      [
        'AWS/States',
        'ExecutionsTimedOut',
        'StateMachineArn',
        '@@FAILOVERMACHINE@@',
        { stat: 'Sum', label: 'timed out' },
      ],
    ]),
  ],
});

/** The body as `Fn::Join` of text and intrinsics. */
module.exports.body = () => {
  const text = JSON.stringify(body());
  const pieces = text.split(/(@@[A-Z]+@@)/).map((piece) => intrinsics[piece] ?? piece);
  return { 'Fn::Join': ['', pieces.filter((piece) => piece !== '')] };
};
