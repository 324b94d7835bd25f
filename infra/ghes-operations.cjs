// Serverless variable source for the GHES operations half: what serverless.yml and
// infra/ghes-operations.yml need from the deployment config's `operations:` section. With no such
// section every value still resolves, to something that matches nothing, so the stack deploys.
const { readFileSync } = require('node:fs');
const { parse } = require('yaml');
const { secretResources } = require('./deployment-config.cjs');

const config = () =>
  parse(readFileSync(process.env.GHES_CP_CONFIG || './config/deploy.example.yaml', 'utf8'));
const operations = () => config().operations;

/** `ghes-cp:appliance` tag values: SSM Run Command may reach only instances tagged with one. */
module.exports.applianceTagValues = () => {
  const names = (operations()?.appliances ?? []).map((a) => a.name);
  return names.length ? names : ['-no-ghes-appliance-'];
};

/** The hosted zone the DNS function may change (one record in it, see the condition). */
module.exports.hostedZoneId = () => operations()?.dns.hostedZoneId ?? 'Z-NO-OPERATIONS';

/**
 * The record name as IAM compares it (`route53:ChangeResourceRecordSetsNormalizedRecordNames`):
 * lowercase, without the trailing dot.
 */
module.exports.normalizedRecordName = () =>
  (operations()?.dns.recordName ?? 'no-operations.invalid').toLowerCase().replace(/\.$/, '');
module.exports.recordType = () => operations()?.dns.type ?? 'A';

module.exports.signingSecretArn = () =>
  operations()?.slack.signingSecretArn ??
  'arn:aws:secretsmanager:us-east-1:000000000000:secret:no-operations';
module.exports.signingSecretArns = () => secretResources(module.exports.signingSecretArn());

/** Management Console passwords, for the appliances with a Manage API. */
const manageApiSecrets = () =>
  (operations()?.appliances ?? [])
    .map((a) => a.manageApi?.passwordSecretArn)
    .filter(Boolean)
    .flatMap(secretResources);
module.exports.manageApiSecretArns = () => {
  const arns = manageApiSecrets();
  return arns.length ? arns : ['arn:aws:secretsmanager:us-east-1:000000000000:secret:no-manage-api-??????'];
};
