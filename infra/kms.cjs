// Serverless variable source for customer-managed KMS keys (`kms:` in the deployment config,
// shared/config/infrastructure-config.ts; what each key protects and what its key policy must allow:
// docs/kms.md). With no `kms:` section every export is empty and the template is exactly the one
// without this file: AWS-managed keys throughout.
//
// `resources` goes into serverless.yml's resources list. It encrypts what the stack declares, found
// by type in the files serverless.yml lists (tables in infra/dynamodb-tables.json, which the sandbox
// twin reads too, so the key is added here, at package time, and not in that file), plus the log
// group serverless creates for each function; and it adds the KMS statements each role needs as
// separate policies, one per role, so the roles' own policies stay as they are without a key.
const { readFileSync } = require('node:fs');
const { parse } = require('yaml');

const KEY_ARN = /^arn:aws[\w-]*:kms:[a-z0-9-]+:\d{12}:key\/[\w-]+$/;
const RESOURCE_KEYS = ['tables', 'queues', 'topic', 'logs', 'parameters', 'bucket'];

const readConfig = () =>
  parse(readFileSync(process.env.GHES_CP_CONFIG || './config/deploy.example.yaml', 'utf8'));

/**
 * The key of each kind of resource (`kms.<kind> ?? kms.keyArn`) and the secrets' keys, or undefined
 * without `kms:`. The functions validate the same section at cold start (zod); the template is built
 * before any function runs, so a bad ARN is refused here too, by its key path.
 */
const keys = (config = readConfig()) => {
  const kms = config.kms;
  if (kms === undefined || kms === null) return undefined;
  if (typeof kms !== 'object' || Array.isArray(kms)) throw new Error('kms: expected a mapping');
  const known = new Set(['keyArn', 'secrets', ...RESOURCE_KEYS]);
  for (const name of Object.keys(kms))
    if (!known.has(name)) throw new Error(`kms.${name}: not a known key (${[...known].join(', ')})`);
  const checked = (path, value) => {
    if (value !== undefined && !(typeof value === 'string' && KEY_ARN.test(value)))
      throw new Error(
        `${path}: expected a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias`,
      );
    return value;
  };
  checked('kms.keyArn', kms.keyArn);
  const resolved = Object.fromEntries(
    RESOURCE_KEYS.map((kind) => [kind, checked(`kms.${kind}`, kms[kind]) ?? kms.keyArn]),
  );
  if (kms.secrets !== undefined && !(Array.isArray(kms.secrets) && kms.secrets.length > 0))
    throw new Error('kms.secrets: expected a list of at least one KMS key ARN');
  const secrets = (kms.secrets ?? (kms.keyArn ? [kms.keyArn] : [])).map((arn, i) =>
    checked(`kms.secrets[${i}]`, arn),
  );
  return { ...resolved, secrets };
};
module.exports.keys = keys;

/** The runners' SecureString key for RUNNER_PARAMETER_KEY_ARN; none: the variable is left out. */
module.exports.parametersKeyArn = () => keys()?.parameters ?? null;

// ---- what the stack declares ---------------------------------------------------------------------

/** Function name → serverless's logical id prefix for it (its naming rule: runner-dispatcher → RunnerDashdispatcher). */
const normalized = (name) =>
  `${name.charAt(0).toUpperCase()}${name.slice(1).replace(/-/g, 'Dash').replace(/_/g, 'Underscore')}`;
/** The log group serverless creates for a function. */
const logGroupId = (name) => `${normalized(name)}LogGroup`;
const functionId = (name) => `${normalized(name)}LambdaFunction`;

/** Resources of the files serverless.yml lists under `resources`, by logical id. */
const declaredResources = (serverless) => {
  const files = JSON.stringify(serverless.resources ?? []).match(/\.\/infra\/[\w.-]+\.(?:ya?ml|json)/g) ?? [];
  const resources = {};
  for (const file of new Set(files)) {
    const parsed = parse(readFileSync(file, 'utf8'), { logLevel: 'silent' });
    // dynamodb-tables.json is the Resources map itself; the .yml files are template fragments.
    Object.assign(resources, file.endsWith('.json') ? parsed : (parsed?.Resources ?? {}));
  }
  return resources;
};

/** Properties that put a resource of this type under a customer-managed key. */
const ENCRYPTION = {
  'AWS::DynamoDB::Table': [
    'tables',
    (key) => ({ SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: key } }),
  ],
  'AWS::SQS::Queue': [
    'queues',
    (key) => ({
      KmsMasterKeyId: key,
      // A queue takes one kind of encryption; serverless drops null properties from the template.
      SqsManagedSseEnabled: null,
      // How long SQS reuses a data key before asking KMS again (default 300 s): at 3600 s a burst of
      // thousands of jobs costs a handful of KMS calls per producer and consumer instead of risking
      // KMS request throttling, and at most an hour of messages share a data key.
      KmsDataKeyReusePeriodSeconds: 3600,
    }),
  ],
  'AWS::SNS::Topic': ['topic', (key) => ({ KmsMasterKeyId: key })],
  'AWS::Logs::LogGroup': ['logs', (key) => ({ KmsKeyId: key })],
  'AWS::S3::Bucket': [
    'bucket',
    (key) => ({
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: key },
            // One data key per bucket for a while instead of a KMS call per object.
            BucketKeyEnabled: true,
          },
        ],
      },
    }),
  ],
};

// ---- IAM ------------------------------------------------------------------------------------------

const viaService = (service) => ({ 'Fn::Sub': `${service}.\${AWS::Region}.amazonaws.com` });

/** Secrets each role reads (the ARN patterns its own secretsmanager:GetSecretValue names). */
const secretReaders = (config) => {
  const { secretResources } = require('./deployment-config.cjs');
  const github = config.github ?? {};
  const slack = config.slack?.botTokenSecretArn ? secretResources(config.slack.botTokenSecretArn) : [];
  const operations = config.operations;
  const signing = operations?.slack?.signingSecretArn
    ? secretResources(operations.slack.signingSecretArn)
    : [];
  const manageApi = (operations?.appliances ?? [])
    .map((appliance) => appliance.manageApi?.passwordSecretArn)
    .filter(Boolean)
    .flatMap(secretResources);
  return {
    GithubWebhookRole: github.webhookSecretArn ? secretResources(github.webhookSecretArn) : [],
    RunnerDispatcherRole: [github.privateKeySecretArn, github.caBundleSecretArn]
      .filter(Boolean)
      .flatMap(secretResources),
    DeployNotifierRole: slack,
    GhesFailoverControlRole: slack,
    GhesFailoverApplianceRole: [...slack, ...manageApi],
    GhesFailoverPromoteRole: slack,
    GhesFailoverDnsRole: slack,
    SlackCommandRole: signing,
    SlackInteractionRole: signing,
  };
};

/**
 * Each role's KMS statements. Every one is held to the key ARN and to the service the key is used
 * through (kms:ViaService), and where the service passes an encryption context naming the resource,
 * to this stack's resources. DynamoDB, CloudWatch Logs and the alerts topic need none here: DynamoDB
 * is authorized by the key policy's statement for principals using DynamoDB, Logs and SNS encrypt
 * as services (infra/templates/kms-key.yml).
 */
const roleStatements = (k, config, prefix) => {
  const statements = {};
  const add = (role, statement) => (statements[role] ??= []).push(statement);
  const parameterArns = (under) => ({
    'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${prefix}/${under}`,
  });
  if (k.parameters) {
    // PutParameter of a SecureString: Parameter Store calls kms:Encrypt with the caller's
    // credentials (standard tier), or GenerateDataKey for advanced-tier (over 4 KB) values, with the
    // parameter's ARN as encryption context.
    const encrypt = (under) => ({
      Effect: 'Allow',
      Action: ['kms:Encrypt', 'kms:GenerateDataKey'],
      Resource: k.parameters,
      Condition: {
        StringEquals: { 'kms:ViaService': viaService('ssm') },
        StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': parameterArns(under) },
      },
    });
    // The dispatcher (and the reconciler, same role) writes runner credentials for builds and instances.
    add('RunnerDispatcherRole', encrypt('*'));
    // Pool maintenance writes its marker where an instance's credentials go.
    add('PoolMaintenanceRole', encrypt('instances/*'));
    // A woken instance reads its own parameter (GetParameter WithDecryption → kms:Decrypt).
    add('RunnerInstanceRole', {
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: k.parameters,
      Condition: {
        StringEquals: { 'kms:ViaService': viaService('ssm') },
        StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': parameterArns('instances/*') },
      },
    });
  }
  if (k.queues) {
    // The SQS event source mapping receives with the function's role; SQS decrypts the message's
    // data key with kms:Decrypt on the consumer's behalf.
    const consume = {
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: k.queues,
      Condition: { StringEquals: { 'kms:ViaService': viaService('sqs') } },
    };
    add('RunnerDispatcherRole', consume);
    add('DeployNotifierRole', consume);
  }
  if (k.bucket) {
    // Reading SSM command output (s3:GetObject) from an SSE-KMS bucket needs kms:Decrypt through S3.
    const read = {
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: k.bucket,
      Condition: { StringEquals: { 'kms:ViaService': viaService('s3') } },
    };
    add('GhesFailoverApplianceRole', read);
    add('GhesFailoverPromoteRole', read);
  }
  if (k.secrets.length > 0) {
    for (const [role, secrets] of Object.entries(secretReaders(config))) {
      if (secrets.length === 0) continue;
      // GetSecretValue of a secret under a customer-managed key: Secrets Manager calls kms:Decrypt
      // with the caller's credentials and the secret's ARN as encryption context, so this role can
      // decrypt through Secrets Manager only the secrets it may read.
      add(role, {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: k.secrets,
        Condition: {
          StringEquals: { 'kms:ViaService': viaService('secretsmanager') },
          StringLike: { 'kms:EncryptionContext:SecretARN': secrets },
        },
      });
    }
  }
  return statements;
};

/** `Role` → its KMS policy's logical id (GithubWebhookRole → GithubWebhookKmsPolicy). */
const policyId = (role) => `${role.replace(/Role$/, '')}KmsPolicy`;

module.exports.resources = async ({ resolveVariable }) => {
  const config = readConfig();
  const k = keys(config);
  if (!k) return {};
  const service = await resolveVariable('self:service');
  const stage = await resolveVariable('sls:stage');
  const prefix = `/${service}/${stage}/runners`;

  const serverless = parse(readFileSync('./serverless.yml', 'utf8'), { logLevel: 'silent' });
  const declared = declaredResources(serverless);
  const extensions = {};
  for (const [id, resource] of Object.entries(declared)) {
    const [kind, properties] = ENCRYPTION[resource?.Type] ?? [];
    if (kind && k[kind]) extensions[id] = { Properties: properties(k[kind]) };
  }
  if (k.logs)
    for (const name of Object.keys(serverless.functions ?? {}))
      extensions[logGroupId(name)] = { Properties: { KmsKeyId: k.logs } };

  const Resources = {};
  const statementsByRole = roleStatements(k, config, prefix);
  // A function waits for its role's KMS policy, so its first invocation (or the queue poller's first
  // receive) already has the key.
  for (const [name, fn] of Object.entries(serverless.functions ?? {}))
    if (fn?.role && statementsByRole[fn.role])
      extensions[functionId(name)] = { DependsOn: [policyId(fn.role)] };
  for (const [role, statements] of Object.entries(statementsByRole)) {
    Resources[policyId(role)] = {
      Type: 'AWS::IAM::Policy',
      Properties: {
        // GithubWebhookRole → github-webhook-kms
        PolicyName: `${role
          .replace(/Role$/, '')
          .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
          .toLowerCase()}-kms`,
        Roles: [{ Ref: role }],
        PolicyDocument: { Version: '2012-10-17', Statement: statements },
      },
    };
  }
  const Outputs = {};
  if (k.parameters) {
    // CodeBuild resolves the PARAMETER_STORE variable with the project's service role: a role of
    // the operator's, so this is a managed policy to attach beside RunnerBuildPolicy.
    Resources.RunnerBuildKmsPolicy = {
      Type: 'AWS::IAM::ManagedPolicy',
      Properties: {
        Description: 'ghes-control-plane runner builds decrypt only the credentials made for builds',
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              // ssm:GetParameters WithDecryption (CodeBuild) and GetParameter (the buildspec) → kms:Decrypt.
              Effect: 'Allow',
              Action: 'kms:Decrypt',
              Resource: k.parameters,
              Condition: {
                StringEquals: { 'kms:ViaService': viaService('ssm') },
                StringLike: {
                  'kms:EncryptionContext:PARAMETER_ARN': {
                    'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${prefix}/builds/*`,
                  },
                },
              },
            },
          ],
        },
      },
    };
    Outputs.RunnerBuildKmsPolicyArn = {
      Description:
        'with kms.parameters: attach to each CodeBuild runner project service role, beside RunnerBuildPolicy',
      Value: { Ref: 'RunnerBuildKmsPolicy' },
    };
  }
  return { Resources, Outputs, extensions };
};
