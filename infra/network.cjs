// Serverless variable source for where the stack sits in the customer's network: the `network:` and
// `ingress:` sections of the deployment config (shared/config/infrastructure-config.ts; validated by
// `npm run package` before osls runs). Absent both, every value here leaves the template as it was
// without them: no VPC, the webhook on the HTTP API. docs/network.md explains the choices.
const { readFileSync } = require('node:fs');
const { parse } = require('yaml');

const config = () =>
  parse(readFileSync(process.env.GHES_CP_CONFIG || './config/deploy.example.yaml', 'utf8')) ?? {};
const network = () => config().network;
const ingress = () => config().ingress ?? { mode: 'public' };
const privateIngress = () => ingress().mode === 'private';

const WEBHOOK_PATH = '/github/webhook';

/**
 * The functions that talk to GHES or the appliances, by their logical ids, and their roles. Only
 * these run in the VPC: the webhook and the Slack functions are reached from outside, and the
 * notifier and pool maintenance talk only to AWS and Slack.
 */
const VPC_FUNCTIONS = [
  'RunnerDashdispatcherLambdaFunction',
  'RunnerDashreconcilerLambdaFunction',
  'GhesDashfailoverDashcontrolLambdaFunction',
  'GhesDashfailoverDashapplianceLambdaFunction',
  'GhesDashfailoverDashpromoteLambdaFunction',
  'GhesDashfailoverDashdnsLambdaFunction',
];
const VPC_ROLES = [
  'RunnerDispatcherRole', // the dispatcher's and the reconciler's
  'GhesFailoverControlRole',
  'GhesFailoverApplianceRole',
  'GhesFailoverPromoteRole',
  'GhesFailoverDnsRole',
];

/**
 * The AWS APIs those functions call (their SDK clients and json-client specs), each a VPC endpoint
 * with `endpoints: create`:
 * - ec2, ssm, codebuild: the dispatcher's launches (shared/aws/clients.ts); ssm also the failover's
 *   Run Command on the appliances (shared/aws/operations-clients.ts);
 * - secretsmanager: the App key and CA bundle; the failover's Slack token and Manage API passwords;
 * - events: alerts on the control-plane bus (dispatcher, failover control);
 * - sts: only with a pool in another account (the dispatcher assumes its roleArn);
 * - dynamodb, s3 (gateway endpoints): the tables; SSM's long command outputs.
 * Not reachable through an endpoint this stack creates: Slack's Web API (on the internet) and Route
 * 53's API (global, route53.amazonaws.com): the failover functions need a NAT gateway or a proxy for
 * them (docs/network.md). GHES and the appliances' Manage API are reached inside the VPC.
 */
const interfaceServices = () => {
  const crossAccount = (config().pools ?? []).some((pool) => pool.roleArn);
  return ['ec2', 'ssm', 'codebuild', 'secretsmanager', 'events', ...(crossAccount ? ['sts'] : [])];
};
const GATEWAY_SERVICES = ['dynamodb', 's3'];

const pascal = (name) => name.replace(/(^|-)([a-z0-9])/g, (_, __, c) => c.toUpperCase());
const serviceName = (service) => ({
  'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, `.${service}`]],
});
const arn = (resource) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':ec2:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      `:${resource}`,
    ],
  ],
});

/**
 * A security group with no way out: CloudFormation gives a group without egress rules "all traffic
 * out", and neither endpoints nor a load balancer that invokes Lambda directly send anything out.
 * The one rule (ICMP type 252 code 86 to 255.255.255.255) matches nothing.
 */
const NO_EGRESS = [
  { IpProtocol: 'icmp', FromPort: 252, ToPort: 86, CidrIp: '255.255.255.255/32', Description: 'no egress' },
];

/** `vpc:` of each GHES-facing function: null (no VPC, as without `network:`) or its subnets and groups. */
module.exports.vpc = () => {
  const net = network();
  return net ? { subnetIds: net.subnetIds, securityGroupIds: net.securityGroupIds } : null;
};

/** provider.httpApi: with a custom domain the execute-api URL is switched off, so the domain is the only way in. */
module.exports.httpApi = () => {
  const current = ingress();
  return {
    payload: '2.0',
    ...(current.mode === 'public' && current.domainName ? { disableDefaultEndpoint: true } : {}),
  };
};

/** The webhook's HTTP API route; none in private mode, where the internal load balancer is its only way in. */
module.exports.webhookEvents = () =>
  privateIngress() ? [] : [{ httpApi: { method: 'POST', path: WEBHOOK_PATH } }];

/**
 * The Slack routes: Slack calls them from the internet, so they stay on the HTTP API; in private
 * mode only when `operations:` needs them, so a stack without operations has nothing public at all.
 */
const slackRoute = (path) => () =>
  privateIngress() && !config().operations ? [] : [{ httpApi: { method: 'POST', path } }];
module.exports.slackCommandEvents = slackRoute('/slack/commands');
module.exports.slackInteractionEvents = slackRoute('/slack/interactions');

/**
 * WEBHOOK_ALLOWED_SOURCE_CIDRS for the webhook: comma-separated, checked before the signature. In
 * private mode too: the load balancer's security group already admits only these, and the function
 * holds to the same list should the group be widened by hand.
 */
module.exports.allowedSourceCidrs = () => ingress().allowedSourceCidrs?.join(',') ?? null;

/** Lambda's ENI permissions for the GHES-facing functions' roles, as narrow as EC2's IAM allows. */
const networkInterfacePolicy = (net) => ({
  Type: 'AWS::IAM::Policy',
  Properties: {
    PolicyName: 'vpc-network-interfaces',
    Roles: VPC_ROLES.map((role) => ({ Ref: role })),
    PolicyDocument: {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          // Authorized on the new interface, its subnet and each of its groups: only the configured ones.
          Action: 'ec2:CreateNetworkInterface',
          Resource: [
            arn('network-interface/*'),
            ...net.subnetIds.map((id) => arn(`subnet/${id}`)),
            ...net.securityGroupIds.map((id) => arn(`security-group/${id}`)),
          ],
        },
        {
          Effect: 'Allow',
          // Lambda checks these with an interface id of its own choosing when the function is
          // created, so they name every interface of this account and region; a condition on the
          // VPC would not hold for an interface that does not exist yet (Lambda developer guide,
          // "Execution role and user permissions" under VPC).
          Action: [
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          Resource: arn('network-interface/*'),
        },
        {
          Effect: 'Allow',
          // EC2's Describe calls have no resource-level permissions: `*`, held to this region.
          Action: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'],
          Resource: '*',
          Condition: { StringEquals: { 'aws:RequestedRegion': { Ref: 'AWS::Region' } } },
        },
      ],
    },
  },
});

const endpointResources = (net) => {
  const resources = {
    VpcEndpointSecurityGroup: {
      Type: 'AWS::EC2::SecurityGroup',
      Properties: {
        GroupDescription: 'ghes-control-plane VPC endpoints: HTTPS from the GHES-facing functions only',
        VpcId: net.vpcId,
        SecurityGroupIngress: net.securityGroupIds.map((group) => ({
          IpProtocol: 'tcp',
          FromPort: 443,
          ToPort: 443,
          SourceSecurityGroupId: group,
          Description: `HTTPS from the functions' group ${group}`,
        })),
        SecurityGroupEgress: NO_EGRESS,
      },
    },
  };
  for (const service of interfaceServices())
    resources[`VpcEndpoint${pascal(service)}`] = {
      Type: 'AWS::EC2::VPCEndpoint',
      Properties: {
        VpcEndpointType: 'Interface',
        ServiceName: serviceName(service),
        VpcId: net.vpcId,
        SubnetIds: net.subnetIds,
        SecurityGroupIds: [{ Ref: 'VpcEndpointSecurityGroup' }],
        // The SDKs call the service's usual name, which then resolves to the endpoint inside the VPC.
        PrivateDnsEnabled: true,
      },
    };
  for (const service of GATEWAY_SERVICES)
    resources[`VpcEndpoint${pascal(service)}`] = {
      Type: 'AWS::EC2::VPCEndpoint',
      Properties: {
        VpcEndpointType: 'Gateway',
        ServiceName: serviceName(service),
        VpcId: net.vpcId,
        RouteTableIds: net.routeTableIds,
      },
    };
  return resources;
};

/**
 * The custom domain of the HTTP API (public mode): a regional domain with TLS 1.2, mapped to the
 * `$default` stage. Point a DNS alias at the WebhookDomainTarget output.
 */
const domainResources = (domain) => ({
  Resources: {
    WebhookDomainName: {
      Type: 'AWS::ApiGatewayV2::DomainName',
      Properties: {
        DomainName: domain.domainName,
        DomainNameConfigurations: [
          { CertificateArn: domain.certificateArn, EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' },
        ],
      },
    },
    WebhookDomainMapping: {
      Type: 'AWS::ApiGatewayV2::ApiMapping',
      // The stage serverless compiles; the mapping needs it to exist.
      DependsOn: ['HttpApiStage'],
      Properties: { ApiId: { Ref: 'HttpApi' }, DomainName: { Ref: 'WebhookDomainName' }, Stage: '$default' },
    },
  },
  Outputs: {
    WebhookDomainTarget: {
      Description: `alias (or CNAME) ${domain.domainName} to this regional API Gateway name`,
      Value: { 'Fn::GetAtt': ['WebhookDomainName', 'RegionalDomainName'] },
    },
  },
});

/**
 * Private ingress: an internal Application Load Balancer in the VPC. HTTPS only (TLS 1.3 and 1.2),
 * its security group admitting `allowedSourceCidrs` on 443 and nothing else, malformed headers
 * dropped, and one rule: POST /github/webhook to the webhook function; anything else 404.
 */
const loadBalancerResources = (net, current) => ({
  Resources: {
    WebhookLoadBalancerSecurityGroup: {
      Type: 'AWS::EC2::SecurityGroup',
      Properties: {
        GroupDescription: 'ghes-control-plane webhook load balancer: HTTPS from GHES only',
        VpcId: net.vpcId,
        SecurityGroupIngress: current.allowedSourceCidrs.map((cidr) => ({
          IpProtocol: 'tcp',
          FromPort: 443,
          ToPort: 443,
          ...(cidr.includes(':') ? { CidrIpv6: cidr } : { CidrIp: cidr }),
          Description: 'webhook deliveries (ingress.allowedSourceCidrs)',
        })),
        // The load balancer invokes Lambda through its API, not over the network.
        SecurityGroupEgress: NO_EGRESS,
      },
    },
    WebhookLoadBalancer: {
      Type: 'AWS::ElasticLoadBalancingV2::LoadBalancer',
      Properties: {
        Type: 'application',
        Scheme: 'internal',
        Subnets: current.subnetIds ?? net.subnetIds,
        SecurityGroups: [{ Ref: 'WebhookLoadBalancerSecurityGroup' }],
        LoadBalancerAttributes: [
          { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
          // The function takes the last X-Forwarded-For entry as the sender: in append mode that is
          // the address the load balancer's connection came from, whatever the client claimed.
          { Key: 'routing.http.xff_header_processing.mode', Value: 'append' },
        ],
      },
    },
    WebhookHttpsListener: {
      Type: 'AWS::ElasticLoadBalancingV2::Listener',
      Properties: {
        LoadBalancerArn: { Ref: 'WebhookLoadBalancer' },
        Protocol: 'HTTPS',
        Port: 443,
        Certificates: [{ CertificateArn: current.certificateArn }],
        SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
        DefaultActions: [
          {
            Type: 'fixed-response',
            FixedResponseConfig: {
              StatusCode: '404',
              ContentType: 'application/json',
              MessageBody: '{"error":"not found"}',
            },
          },
        ],
      },
    },
    // Target groups cannot name their own ARN before they exist, so the grant is held to this
    // account's load balancers (aws:SourceAccount) rather than to the group.
    WebhookLoadBalancerInvokePermission: {
      Type: 'AWS::Lambda::Permission',
      Properties: {
        FunctionName: { 'Fn::GetAtt': ['GithubDashwebhookLambdaFunction', 'Arn'] },
        Action: 'lambda:InvokeFunction',
        Principal: 'elasticloadbalancing.amazonaws.com',
        SourceAccount: { Ref: 'AWS::AccountId' },
      },
    },
    WebhookTargetGroup: {
      Type: 'AWS::ElasticLoadBalancingV2::TargetGroup',
      DependsOn: ['WebhookLoadBalancerInvokePermission'],
      Properties: {
        TargetType: 'lambda',
        Targets: [{ Id: { 'Fn::GetAtt': ['GithubDashwebhookLambdaFunction', 'Arn'] } }],
        // One value per header (the webhook's adapter reads `headers`).
        TargetGroupAttributes: [{ Key: 'lambda.multi_value_headers.enabled', Value: 'false' }],
      },
    },
    WebhookListenerRule: {
      Type: 'AWS::ElasticLoadBalancingV2::ListenerRule',
      Properties: {
        ListenerArn: { Ref: 'WebhookHttpsListener' },
        Priority: 1,
        Conditions: [
          { Field: 'path-pattern', PathPatternConfig: { Values: [WEBHOOK_PATH] } },
          { Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['POST'] } },
        ],
        Actions: [{ Type: 'forward', TargetGroupArn: { Ref: 'WebhookTargetGroup' } }],
      },
    },
  },
  Outputs: {
    WebhookLoadBalancerDnsName: {
      Description: 'the internal load balancer; point your DNS name for the webhook here',
      Value: { 'Fn::GetAtt': ['WebhookLoadBalancer', 'DNSName'] },
    },
  },
});

const webhookUrl = (current) => {
  if (current.domainName) return `https://${current.domainName}${WEBHOOK_PATH}`;
  if (current.mode === 'private')
    return {
      'Fn::Join': ['', ['https://', { 'Fn::GetAtt': ['WebhookLoadBalancer', 'DNSName'] }, WEBHOOK_PATH]],
    };
  return {
    'Fn::Join': [
      '',
      [
        'https://',
        { Ref: 'HttpApi' },
        '.execute-api.',
        { Ref: 'AWS::Region' },
        '.',
        { Ref: 'AWS::URLSuffix' },
        WEBHOOK_PATH,
      ],
    ],
  };
};

/** The network and ingress resources, the WebhookUrl output, and the VPC functions' wait for their ENI grant. */
module.exports.resources = () => {
  const net = network();
  const current = ingress();
  // `npm run package` validates the config first (scripts/check-config.ts); a bare `osls package`
  // does not, so the two rules the resources below rely on are held here too.
  if (current.mode === 'private' && !net)
    throw new Error('ingress.mode private: needs network: (the load balancer lives in the VPC)');
  if (net?.endpoints === 'create' && !net.routeTableIds)
    throw new Error('network.routeTableIds: required with endpoints: create');
  const parts = [
    { Resources: {}, Outputs: {} },
    ...(net ? [{ Resources: { VpcNetworkInterfacePolicy: networkInterfacePolicy(net) } }] : []),
    ...(net?.endpoints === 'create' ? [{ Resources: endpointResources(net) }] : []),
    ...(current.mode === 'public' && current.domainName ? [domainResources(current)] : []),
    ...(current.mode === 'private' ? [loadBalancerResources(net, current)] : []),
  ];
  const merged = {
    Resources: Object.assign({}, ...parts.map((part) => part.Resources)),
    Outputs: Object.assign({}, ...parts.map((part) => part.Outputs ?? {}), {
      WebhookUrl: {
        Description: 'register this as the GitHub App webhook URL (POST, content type application/json)',
        Value: webhookUrl(current),
      },
    }),
  };
  // Lambda checks the role's ENI permissions when it creates a function with a VPC config, so the
  // functions wait for the policy, which is a resource of its own (no function depends on it otherwise).
  if (net)
    merged.extensions = Object.fromEntries(
      VPC_FUNCTIONS.map((fn) => [fn, { DependsOn: ['VpcNetworkInterfacePolicy'] }]),
    );
  return merged;
};
