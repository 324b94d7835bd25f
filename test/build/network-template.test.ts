import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cfnLint, hasCfnLint, packageWithConfig, type PackagedTemplate } from './packaged-template.ts';
import { attachedStatementsOf, roleAllows, type Statement } from './iam-policy.ts';

/**
 * The templates an operator gets from `network:` and `ingress:` (infra/network.cjs), packaged with
 * osls as `npm run package` does: two variants, ~10 s each on an idle machine.
 * - public: the example config, in a VPC (no endpoints), its webhook under a custom domain and
 *   limited to an IPv4 and an IPv6 block;
 * - private: the example config without Slack and operations, in a VPC with endpoints created, its
 *   webhook behind an internal load balancer.
 */
const example = readFileSync('config/deploy.example.yaml', 'utf8');
const withoutSlack = example.slice(0, example.indexOf('# The Slack app'));
const CERTIFICATE = 'arn:aws:acm:eu-west-1:111122223333:certificate/0a1b2c3d-1111-2222-3333-444455556666';
const SUBNETS = ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'];
const FUNCTION_GROUPS = ['sg-0a1b2c3d4e5f60003', 'sg-0a1b2c3d4e5f60004'];
const ROUTE_TABLE = 'rtb-0a1b2c3d4e5f60005';
const network = (extra = '') => `
network:
  vpcId: vpc-0a1b2c3d4e5f60718
  subnetIds: [${SUBNETS.join(', ')}]
  securityGroupIds: [${FUNCTION_GROUPS.join(', ')}]
${extra}`;

const PUBLIC = `${example}${network()}
ingress:
  mode: public
  domainName: hooks.example.com
  certificateArn: ${CERTIFICATE}
  allowedSourceCidrs: [203.0.113.0/24, 2001:db8::/32]
`;
const PRIVATE = `${withoutSlack}${network(`  endpoints: create\n  routeTableIds: [${ROUTE_TABLE}]\n`)}
ingress:
  mode: private
  certificateArn: ${CERTIFICATE}
  allowedSourceCidrs: [10.20.0.0/16, 10.30.5.0/24]
`;

/** The functions that talk to GHES or the appliances: these, and only these, run in the VPC. */
const VPC_FUNCTIONS = [
  'RunnerDashdispatcherLambdaFunction',
  'RunnerDashreconcilerLambdaFunction',
  'GhesDashfailoverDashcontrolLambdaFunction',
  'GhesDashfailoverDashapplianceLambdaFunction',
  'GhesDashfailoverDashpromoteLambdaFunction',
  'GhesDashfailoverDashdnsLambdaFunction',
].sort();

const at = { partition: 'aws', region: 'eu-west-1', account: '111122223333' };
const ec2Arn = (resource: string) => `arn:aws:ec2:eu-west-1:111122223333:${resource}`;

type Resources = Record<string, { Type: string; Properties?: any; DependsOn?: string[] }>;
const ofType = (template: PackagedTemplate, type: string) =>
  Object.entries(template.Resources as Resources).filter(([, resource]) => resource.Type === type);
const outputs = (template: PackagedTemplate) =>
  (template as unknown as { Outputs: Record<string, { Value: unknown }> }).Outputs;

let publicTemplate: PackagedTemplate;
let privateTemplate: PackagedTemplate;
beforeAll(() => {
  publicTemplate = packageWithConfig('dev', PUBLIC);
  privateTemplate = packageWithConfig('dev', PRIVATE);
}, 600_000);

describe.each([
  ['public', () => publicTemplate],
  ['private', () => privateTemplate],
])('network: (%s ingress)', (_, template) => {
  it('puts the GHES-facing functions, and only they, in the configured subnets and groups', () => {
    const inVpc = ofType(template(), 'AWS::Lambda::Function').filter(([, fn]) => fn.Properties.VpcConfig);
    expect(inVpc.map(([name]) => name).sort()).toEqual(VPC_FUNCTIONS);
    for (const [name, fn] of inVpc) {
      expect(fn.Properties.VpcConfig, name).toEqual({
        SubnetIds: SUBNETS,
        SecurityGroupIds: FUNCTION_GROUPS,
      });
      // Lambda checks the role's ENI permissions when it creates the function.
      expect(fn.DependsOn, name).toContain('VpcNetworkInterfacePolicy');
    }
  });

  it('lets their roles create network interfaces in the configured subnets and groups only', () => {
    const resources = template().Resources as Resources;
    const create = (statements: Statement[], resource: string) =>
      roleAllows(statements, { action: 'ec2:CreateNetworkInterface', resource }, at);
    for (const role of ['RunnerDispatcherRole', 'GhesFailoverApplianceRole', 'GhesFailoverDnsRole']) {
      const statements = attachedStatementsOf(resources, role);
      expect(create(statements, ec2Arn(`subnet/${SUBNETS[1]}`)), role).toBe(true);
      expect(create(statements, ec2Arn('subnet/subnet-0fffffffffffffff9')), role).toBe(false);
      expect(create(statements, ec2Arn(`security-group/${FUNCTION_GROUPS[0]}`)), role).toBe(true);
      expect(create(statements, ec2Arn('security-group/sg-0fffffffffffffff9')), role).toBe(false);
      expect(create(statements, ec2Arn('network-interface/eni-0123456789abcdef0')), role).toBe(true);
      expect(
        create(statements, 'arn:aws:ec2:us-east-1:111122223333:subnet/' + SUBNETS[0]),
        `${role} in another region`,
      ).toBe(false);
      const describe = (region: string) =>
        roleAllows(
          statements,
          {
            action: 'ec2:DescribeNetworkInterfaces',
            resource: '*',
            context: { 'aws:RequestedRegion': region },
          },
          at,
        );
      expect(describe('eu-west-1'), role).toBe(true);
      expect(describe('us-east-1'), role).toBe(false);
      expect(
        roleAllows(
          statements,
          {
            action: 'ec2:DeleteNetworkInterface',
            resource: ec2Arn('network-interface/eni-0123456789abcdef0'),
          },
          at,
        ),
        role,
      ).toBe(true);
    }
    // Functions outside the VPC get nothing of it.
    for (const role of ['GithubWebhookRole', 'SlackCommandRole', 'DeployNotifierRole']) {
      expect(create(attachedStatementsOf(resources, role), ec2Arn(`subnet/${SUBNETS[0]}`)), role).toBe(false);
    }
  });

  it('names a resource in every ENI statement except the Describe calls, which IAM cannot scope', () => {
    const policy = (template().Resources as Resources).VpcNetworkInterfacePolicy!;
    for (const statement of policy.Properties.PolicyDocument.Statement as Statement[]) {
      const actions = [statement.Action].flat();
      if ([statement.Resource].flat().includes('*')) {
        expect(
          actions.every((action) => action.startsWith('ec2:Describe')),
          JSON.stringify(actions),
        ).toBe(true);
        expect(statement.Condition).toEqual({
          StringEquals: { 'aws:RequestedRegion': { Ref: 'AWS::Region' } },
        });
      }
    }
  });

  it.skipIf(!hasCfnLint)('passes cfn-lint with no error and no warning of ours', { timeout: 120_000 }, () => {
    expect(cfnLint(template())).toEqual({ errors: [], ownWarnings: [] });
  });
});

describe('endpoints: create', () => {
  /**
   * What the VPC functions call, read from their own roles: every AWS service their statements
   * grant, but those Lambda calls for them (logs: the function's log stream; sqs: the event source
   * mapping polls the queue; ec2 ENI actions) and Route 53, whose API is global and has no endpoint
   * in the stack's region (docs/network.md: NAT or proxy).
   */
  const servicesCalled = (resources: Resources) => {
    const roles = [
      'RunnerDispatcherRole',
      'GhesFailoverControlRole',
      'GhesFailoverApplianceRole',
      'GhesFailoverPromoteRole',
      'GhesFailoverDnsRole',
    ];
    const services = new Set(
      roles
        .flatMap((role) => attachedStatementsOf(resources, role))
        .flatMap((statement) => [statement.Action].flat())
        .map((action) => action.split(':')[0]!),
    );
    for (const byLambda of ['logs', 'sqs', 'route53']) services.delete(byLambda);
    return [...services].sort();
  };

  it('creates an endpoint, private DNS on, for each AWS service the VPC functions call', () => {
    const resources = privateTemplate.Resources as Resources;
    const endpoints = ofType(privateTemplate, 'AWS::EC2::VPCEndpoint').map(
      ([, endpoint]) => endpoint.Properties,
    );
    const serviceOf = (properties: any) =>
      (properties.ServiceName['Fn::Join'][1] as string[]).at(-1)!.slice(1);
    const called = servicesCalled(resources);
    // The example has a pool in another account: the dispatcher assumes its role through STS.
    expect(called).toEqual(['codebuild', 'dynamodb', 'ec2', 'events', 's3', 'secretsmanager', 'ssm', 'sts']);
    expect(endpoints.map(serviceOf).sort()).toEqual(called);
    for (const endpoint of endpoints) {
      const service = serviceOf(endpoint);
      if (service === 'dynamodb' || service === 's3') {
        expect(endpoint, service).toMatchObject({ VpcEndpointType: 'Gateway', RouteTableIds: [ROUTE_TABLE] });
        continue;
      }
      expect(endpoint, service).toMatchObject({
        VpcEndpointType: 'Interface',
        PrivateDnsEnabled: true,
        SubnetIds: SUBNETS,
        SecurityGroupIds: [{ Ref: 'VpcEndpointSecurityGroup' }],
        VpcId: 'vpc-0a1b2c3d4e5f60718',
      });
    }
  });

  it("admits HTTPS to the endpoints from the functions' groups only", () => {
    const group = (privateTemplate.Resources as Resources).VpcEndpointSecurityGroup!.Properties;
    expect(group.SecurityGroupIngress).toEqual(
      FUNCTION_GROUPS.map((source) =>
        expect.objectContaining({
          IpProtocol: 'tcp',
          FromPort: 443,
          ToPort: 443,
          SourceSecurityGroupId: source,
        }),
      ),
    );
    expect(group.SecurityGroupIngress.some((rule: any) => rule.CidrIp || rule.CidrIpv6)).toBe(false);
  });

  it('creates none with endpoints: none (the VPC has them or a NAT)', () => {
    expect(ofType(publicTemplate, 'AWS::EC2::VPCEndpoint')).toEqual([]);
    expect(ofType(publicTemplate, 'AWS::EC2::SecurityGroup')).toEqual([]);
  });
});

describe('ingress: public', () => {
  it('serves the webhook on the HTTP API under the custom domain only', () => {
    const routes = ofType(publicTemplate, 'AWS::ApiGatewayV2::Route').map(
      ([, route]) => route.Properties.RouteKey,
    );
    expect(routes).toContain('POST /github/webhook');
    const [[, api]] = ofType(publicTemplate, 'AWS::ApiGatewayV2::Api') as [[string, any]];
    expect(api.Properties.DisableExecuteApiEndpoint).toBe(true);
    const [[, domain]] = ofType(publicTemplate, 'AWS::ApiGatewayV2::DomainName') as [[string, any]];
    expect(domain.Properties).toEqual({
      DomainName: 'hooks.example.com',
      DomainNameConfigurations: [
        { CertificateArn: CERTIFICATE, EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' },
      ],
    });
    const [[, mapping]] = ofType(publicTemplate, 'AWS::ApiGatewayV2::ApiMapping') as [[string, any]];
    expect(mapping.Properties).toMatchObject({ ApiId: { Ref: 'HttpApi' }, Stage: '$default' });
    expect(outputs(publicTemplate).WebhookUrl!.Value).toBe('https://hooks.example.com/github/webhook');
  });

  it('gives the webhook its allow-list, which it checks before the signature', () => {
    const fn = (publicTemplate.Resources as Resources).GithubDashwebhookLambdaFunction!;
    expect(fn.Properties.Environment.Variables.WEBHOOK_ALLOWED_SOURCE_CIDRS).toBe(
      '203.0.113.0/24,2001:db8::/32',
    );
    expect(fn.Properties.VpcConfig).toBeUndefined();
    expect(ofType(publicTemplate, 'AWS::ElasticLoadBalancingV2::LoadBalancer')).toEqual([]);
  });
});

describe('ingress: private', () => {
  it('creates no HTTP API at all when no Slack route needs one: nothing public', () => {
    expect(
      Object.values(privateTemplate.Resources).filter((resource) =>
        resource.Type.startsWith('AWS::ApiGatewayV2::'),
      ),
    ).toEqual([]);
    expect(
      ofType(privateTemplate, 'AWS::Lambda::Permission').filter(
        ([, permission]) =>
          permission.Properties.Principal !== 'elasticloadbalancing.amazonaws.com' &&
          permission.Properties.Principal !== 'events.amazonaws.com',
      ),
    ).toEqual([]);
  });

  it('serves the webhook from an internal load balancer, HTTPS only, that drops malformed headers', () => {
    const [[, alb]] = ofType(privateTemplate, 'AWS::ElasticLoadBalancingV2::LoadBalancer') as [[string, any]];
    expect(alb.Properties).toMatchObject({ Type: 'application', Scheme: 'internal', Subnets: SUBNETS });
    expect(alb.Properties.LoadBalancerAttributes).toEqual(
      expect.arrayContaining([
        { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
        { Key: 'routing.http.xff_header_processing.mode', Value: 'append' },
      ]),
    );
    const listeners = ofType(privateTemplate, 'AWS::ElasticLoadBalancingV2::Listener').map(
      ([, l]) => l.Properties,
    );
    expect(listeners).toEqual([
      expect.objectContaining({
        Protocol: 'HTTPS',
        Port: 443,
        Certificates: [{ CertificateArn: CERTIFICATE }],
        SslPolicy: expect.stringMatching(/^ELBSecurityPolicy-TLS13-1-2-/),
      }),
    ]);
    expect(listeners[0].DefaultActions).toEqual([
      expect.objectContaining({
        Type: 'fixed-response',
        FixedResponseConfig: expect.objectContaining({ StatusCode: '404' }),
      }),
    ]);
    expect(outputs(privateTemplate).WebhookUrl!.Value).toEqual({
      'Fn::Join': ['', ['https://', { 'Fn::GetAtt': ['WebhookLoadBalancer', 'DNSName'] }, '/github/webhook']],
    });
  });

  it('forwards POST /github/webhook, and nothing else, to the webhook function', () => {
    const rules = ofType(privateTemplate, 'AWS::ElasticLoadBalancingV2::ListenerRule').map(
      ([, r]) => r.Properties,
    );
    expect(rules).toHaveLength(1);
    expect(rules[0].Conditions).toEqual(
      expect.arrayContaining([
        { Field: 'path-pattern', PathPatternConfig: { Values: ['/github/webhook'] } },
        { Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['POST'] } },
      ]),
    );
    const groupName = rules[0].Actions[0].TargetGroupArn.Ref;
    const group = (privateTemplate.Resources as Resources)[groupName]!.Properties;
    expect(group).toMatchObject({
      TargetType: 'lambda',
      Targets: [{ Id: { 'Fn::GetAtt': ['GithubDashwebhookLambdaFunction', 'Arn'] } }],
    });
    const [[, invoke]] = ofType(privateTemplate, 'AWS::Lambda::Permission').filter(
      ([, permission]) => permission.Properties.Principal === 'elasticloadbalancing.amazonaws.com',
    ) as [[string, any]];
    expect(invoke.Properties.SourceAccount).toEqual({ Ref: 'AWS::AccountId' });
  });

  it('admits 443 from the allowed CIDRs only, and the webhook holds to the same list', () => {
    const [[, alb]] = ofType(privateTemplate, 'AWS::ElasticLoadBalancingV2::LoadBalancer') as [[string, any]];
    const groupName = alb.Properties.SecurityGroups[0].Ref;
    const ingress = (privateTemplate.Resources as Resources)[groupName]!.Properties.SecurityGroupIngress;
    expect(ingress.map((rule: any) => [rule.IpProtocol, rule.FromPort, rule.ToPort, rule.CidrIp])).toEqual([
      ['tcp', 443, 443, '10.20.0.0/16'],
      ['tcp', 443, 443, '10.30.5.0/24'],
    ]);
    const fn = (privateTemplate.Resources as Resources).GithubDashwebhookLambdaFunction!;
    expect(fn.Properties.Environment.Variables.WEBHOOK_ALLOWED_SOURCE_CIDRS).toBe(
      '10.20.0.0/16,10.30.5.0/24',
    );
  });
});

describe('ingress: private with operations (infra/network.cjs, without packaging)', () => {
  /** The events serverless.yml gives each HTTP function for a config, as osls reads them. */
  const eventsFor = (yaml: string) => {
    const file = join(mkdtempSync(join(tmpdir(), 'ghes-cp-network-')), 'deploy.yaml');
    writeFileSync(file, yaml);
    const saved = process.env.GHES_CP_CONFIG;
    process.env.GHES_CP_CONFIG = file;
    try {
      const source = createRequire(import.meta.url)('../../infra/network.cjs') as Record<
        string,
        () => unknown
      >;
      return {
        webhook: source.webhookEvents!(),
        slackCommands: source.slackCommandEvents!(),
        slackInteractions: source.slackInteractionEvents!(),
      };
    } finally {
      if (saved === undefined) delete process.env.GHES_CP_CONFIG;
      else process.env.GHES_CP_CONFIG = saved;
    }
  };
  const privateIngress = PRIVATE.slice(PRIVATE.indexOf('\nnetwork:'));

  it('keeps the Slack routes on the HTTP API (Slack is on the internet) but not the webhook', () => {
    expect(eventsFor(`${example}${privateIngress}`)).toEqual({
      webhook: [],
      slackCommands: [{ httpApi: { method: 'POST', path: '/slack/commands' } }],
      slackInteractions: [{ httpApi: { method: 'POST', path: '/slack/interactions' } }],
    });
  });

  it('routes everything through the HTTP API in public mode, as before', () => {
    expect(eventsFor(example)).toEqual({
      webhook: [{ httpApi: { method: 'POST', path: '/github/webhook' } }],
      slackCommands: [{ httpApi: { method: 'POST', path: '/slack/commands' } }],
      slackInteractions: [{ httpApi: { method: 'POST', path: '/slack/interactions' } }],
    });
  });
});
