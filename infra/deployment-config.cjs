// Serverless variable source: the deployment config as one JSON string for the DEPLOYMENT_CONFIG
// environment variable (the dispatcher validates it at cold start). serverless.yml cannot read a
// file as raw text, and ${file(x.yaml)} gives an object, which an environment variable cannot hold.
const { readFileSync } = require('node:fs');
const { parse } = require('yaml');

const load = () => parse(readFileSync(process.env.GHES_CP_CONFIG || './config/deploy.example.yaml', 'utf8'));

module.exports.json = () => JSON.stringify(load());

/**
 * IAM resources for a secret named in the config. A secret's real ARN ends in `-` and six random
 * characters; a config may give it without them (a partial ARN, which GetSecretValue accepts), and a
 * policy naming that partial ARN would never match. `-??????` matches exactly those six characters.
 * An ARN that already ends like a suffix may still be a partial one (a name such as `app-key-prod01`),
 * so it is granted both as given and with a suffix.
 */
const secretResources = (arn) => (/-[A-Za-z0-9]{6}$/.test(arn) ? [arn, `${arn}-??????`] : [`${arn}-??????`]);
module.exports.secretResources = secretResources;

/** Secrets the dispatcher may read: the App's private key, and the CA bundle when one is configured. */
module.exports.dispatcherSecretArns = () => {
  const { github } = load();
  return [github.privateKeySecretArn, github.caBundleSecretArn].filter(Boolean).flatMap(secretResources);
};

/** The webhook secret, for the intake. */
module.exports.webhookSecretArns = () => secretResources(load().github.webhookSecretArn);

/** Roles of pools whose capacity lives in another account: the dispatcher may assume only these. */
const assumableRoles = () => [...new Set((load().pools ?? []).map((pool) => pool.roleArn).filter(Boolean))];
module.exports.dispatcherAssumableRoles = assumableRoles;

/** The Slack bot token, for the deploy notifier; none when no `slack:` block is configured. */
const slackSecretArns = () => {
  const { slack } = load();
  return slack?.botTokenSecretArn ? secretResources(slack.botTokenSecretArn) : [];
};
module.exports.slackSecretArns = slackSecretArns;

const policy = (name, role, statement) => ({
  Type: 'AWS::IAM::Policy',
  Properties: {
    PolicyName: name,
    Roles: [{ Ref: role }],
    PolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', ...statement }] },
  },
});

/**
 * Policies that exist only when the config asks for them. Shaped here rather than behind
 * CloudFormation conditions: a condition on a value known at package time is a constant, which
 * cfn-lint rightly flags (W8003), and the template should say what is deployed.
 */
module.exports.optionalPolicies = () => {
  const roles = assumableRoles();
  const slack = slackSecretArns();
  return {
    // Only when a pool names a roleArn: the dispatcher may assume exactly those roles.
    ...(roles.length > 0
      ? {
          RunnerDispatcherCrossAccountPolicy: policy(
            'runner-dispatcher-cross-account',
            'RunnerDispatcherRole',
            {
              Action: 'sts:AssumeRole',
              Resource: roles,
            },
          ),
        }
      : {}),
    // Only with a `slack:` block: the bot token's secret, and nothing else.
    ...(slack.length > 0
      ? {
          DeployNotifierSlackPolicy: policy('deploy-notifier-slack-token', 'DeployNotifierRole', {
            Action: 'secretsmanager:GetSecretValue',
            Resource: slack,
          }),
        }
      : {}),
  };
};
