// Serverless variable source: a state machine's ASL file with its `${Name}` placeholders replaced by
// CloudFormation references. The ASL files stay pure (asl-validator and the twin read them as they
// are); serverless-step-functions rejects definitionSubstitutions (ARCHITECTURE.md), so this does it.
const { readFileSync } = require('node:fs');

/** Placeholder → the reference deployed in its place. */
const REFERENCES = {
  PoolMaintenanceFunctionArn: { 'Fn::GetAtt': ['PoolDashmaintenanceLambdaFunction', 'Arn'] },
  GhesFailoverControlFunctionArn: { 'Fn::GetAtt': ['GhesDashfailoverDashcontrolLambdaFunction', 'Arn'] },
  GhesFailoverApplianceFunctionArn: { 'Fn::GetAtt': ['GhesDashfailoverDashapplianceLambdaFunction', 'Arn'] },
  GhesFailoverPromoteFunctionArn: { 'Fn::GetAtt': ['GhesDashfailoverDashpromoteLambdaFunction', 'Arn'] },
  GhesFailoverDnsFunctionArn: { 'Fn::GetAtt': ['GhesDashfailoverDashdnsLambdaFunction', 'Arn'] },
};

const resolve = (value) => {
  if (typeof value === 'string') {
    const placeholder = /^\$\{(\w+)\}$/.exec(value);
    if (!placeholder) return value;
    if (!(placeholder[1] in REFERENCES)) throw new Error(`unknown ASL placeholder ${value}`);
    return REFERENCES[placeholder[1]];
  }
  if (Array.isArray(value)) return value.map(resolve);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, resolve(v)]));
  return value;
};

// Resolved beside this file, wherever osls runs from.
const load = (file) => resolve(JSON.parse(readFileSync(require.resolve(`./${file}`), 'utf8')));

module.exports.poolMaintenance = () => load('pool-maintenance.asl.json');
module.exports.ghesFailover = () => load('ghes-failover.asl.json');
