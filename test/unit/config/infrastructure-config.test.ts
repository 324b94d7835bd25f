import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDeploymentConfig } from '../../../shared/config/deployment-config.ts';
import { CONFIG_BASE, problemsOf } from '../../support/deployment-config-text.ts';

/**
 * The `network:`, `ingress:` (and `kms:`) sections of the deployment config
 * (shared/config/infrastructure-config.ts): what an operator writes, and how a mistake is named.
 * One describe block per section.
 */
const parse = (text: string) => parseDeploymentConfig(text, 'deploy.yaml');

const NETWORK = `
network:
  vpcId: vpc-0a1b2c3d4e5f60718
  subnetIds: [subnet-0a1b2c3d4e5f60001, subnet-0a1b2c3d4e5f60002]
  securityGroupIds: [sg-0a1b2c3d4e5f60003]
`;
const CERTIFICATE = 'arn:aws:acm:eu-west-1:111122223333:certificate/0a1b2c3d-1111-2222-3333-444455556666';

describe('network', () => {
  it('is optional: without it nothing runs in a VPC', () => {
    expect(parse(CONFIG_BASE).network).toBeUndefined();
  });

  it('reads the VPC, subnets and groups, and creates no endpoints unless asked', () => {
    expect(parse(`${CONFIG_BASE}${NETWORK}`).network).toEqual({
      vpcId: 'vpc-0a1b2c3d4e5f60718',
      subnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
      securityGroupIds: ['sg-0a1b2c3d4e5f60003'],
      endpoints: 'none',
    });
  });

  it('takes endpoints: create with the route tables for the gateway endpoints', () => {
    const config = parse(
      `${CONFIG_BASE}${NETWORK}  endpoints: create\n  routeTableIds: [rtb-0a1b2c3d4e5f60005]\n`,
    );
    expect(config.network).toMatchObject({ endpoints: 'create', routeTableIds: ['rtb-0a1b2c3d4e5f60005'] });
  });

  it('names the key path of a malformed ID', () => {
    const message = problemsOf(
      `${CONFIG_BASE}${NETWORK}`
        .replace('vpc-0a1b2c3d4e5f60718', 'my-vpc')
        .replace('subnet-0a1b2c3d4e5f60002', 'subnet-XYZ')
        .replace('sg-0a1b2c3d4e5f60003', 'default'),
    );
    expect(message).toContain('network.vpcId: expected a VPC ID (vpc-…)');
    expect(message).toContain('network.subnetIds[1]: expected a subnet ID (subnet-…)');
    expect(message).toContain('network.securityGroupIds[0]: expected a security group ID (sg-…)');
  });

  it('refuses an empty or repeated subnet list, no security group, and an unknown key', () => {
    expect(problemsOf(`${CONFIG_BASE}${NETWORK}`.replace(/subnetIds: \[.*\]/, 'subnetIds: []'))).toContain(
      'network.subnetIds: expected at least one subnet',
    );
    expect(
      problemsOf(`${CONFIG_BASE}${NETWORK}`.replace('subnet-0a1b2c3d4e5f60002', 'subnet-0a1b2c3d4e5f60001')),
    ).toContain('network.subnetIds: expected each subnet once');
    expect(
      problemsOf(`${CONFIG_BASE}${NETWORK}`.replace(/securityGroupIds: \[.*\]/, 'securityGroupIds: []')),
    ).toContain('network.securityGroupIds: expected at least one security group');
    expect(problemsOf(`${CONFIG_BASE}${NETWORK}  subnetId: subnet-0a1b2c3d4e5f60009\n`)).toContain(
      'network: unknown key "subnetId"',
    );
  });

  it('needs route tables with endpoints: create, and takes them only then', () => {
    expect(problemsOf(`${CONFIG_BASE}${NETWORK}  endpoints: create\n`)).toContain(
      'network.routeTableIds: required with endpoints: create',
    );
    expect(problemsOf(`${CONFIG_BASE}${NETWORK}  routeTableIds: [rtb-0a1b2c3d4e5f60005]\n`)).toContain(
      'network.routeTableIds: only with endpoints: create',
    );
    expect(problemsOf(`${CONFIG_BASE}${NETWORK}  endpoints: nat\n`)).toContain('network.endpoints');
  });
});

describe('ingress', () => {
  it('defaults to the public HTTP API with no domain and no allow-list', () => {
    expect(parse(CONFIG_BASE).ingress).toEqual({ mode: 'public' });
  });

  it('takes a public custom domain with its certificate and an IPv4/IPv6 allow-list', () => {
    const config = parse(`${CONFIG_BASE}
ingress:
  mode: public
  domainName: hooks.example.com
  certificateArn: ${CERTIFICATE}
  allowedSourceCidrs: [203.0.113.0/24, 2001:db8::/32]
`);
    expect(config.ingress).toEqual({
      mode: 'public',
      domainName: 'hooks.example.com',
      certificateArn: CERTIFICATE,
      allowedSourceCidrs: ['203.0.113.0/24', '2001:db8::/32'],
    });
  });

  it('needs a domain and its certificate together', () => {
    expect(problemsOf(`${CONFIG_BASE}ingress: { mode: public, domainName: hooks.example.com }\n`)).toContain(
      'ingress.certificateArn: required with ingress.domainName',
    );
    expect(
      problemsOf(`${CONFIG_BASE}ingress: { mode: public, certificateArn: '${CERTIFICATE}' }\n`),
    ).toContain('ingress.domainName: required with ingress.certificateArn');
  });

  it('names the key path of a bad CIDR block, domain or certificate', () => {
    const message = problemsOf(`${CONFIG_BASE}
ingress:
  mode: public
  domainName: Hooks.Example.com
  certificateArn: arn:aws:iam::111122223333:server-certificate/hooks
  allowedSourceCidrs: [10.0.0.0/16, 10.0.0.300/24]
`);
    expect(message).toContain('ingress.allowedSourceCidrs[1]: expected a CIDR block such as 10.0.0.0/16');
    expect(message).toContain('ingress.domainName: expected a lowercase DNS name');
    expect(message).toContain('ingress.certificateArn: expected an ACM certificate ARN');
  });

  it('refuses an unknown mode and keys of the other mode', () => {
    expect(problemsOf(`${CONFIG_BASE}ingress: { mode: vpn }\n`)).toContain('ingress');
    expect(
      problemsOf(`${CONFIG_BASE}ingress: { mode: public, subnetIds: [subnet-0a1b2c3d4e5f60001] }\n`),
    ).toContain('ingress: unknown key "subnetIds"');
  });

  describe('private', () => {
    const PRIVATE = `
ingress:
  mode: private
  certificateArn: ${CERTIFICATE}
  allowedSourceCidrs: [10.20.0.0/16]
`;

    it('takes the load balancer in the network subnets, HTTPS with the certificate, open to the CIDRs', () => {
      expect(parse(`${CONFIG_BASE}${NETWORK}${PRIVATE}`).ingress).toEqual({
        mode: 'private',
        certificateArn: CERTIFICATE,
        allowedSourceCidrs: ['10.20.0.0/16'],
      });
    });

    it('needs network:, a certificate and an allow-list', () => {
      expect(problemsOf(`${CONFIG_BASE}${PRIVATE}`)).toContain('network: required with ingress.mode private');
      const bare = problemsOf(`${CONFIG_BASE}${NETWORK}ingress: { mode: private }\n`);
      expect(bare).toContain('ingress.certificateArn');
      expect(bare).toContain('ingress.allowedSourceCidrs');
    });

    it('needs subnets in two Availability Zones, naming which list is short', () => {
      const oneSubnet = NETWORK.replace(', subnet-0a1b2c3d4e5f60002', '');
      expect(problemsOf(`${CONFIG_BASE}${oneSubnet}${PRIVATE}`)).toContain(
        'network.subnetIds: an Application Load Balancer needs subnets in at least two Availability Zones',
      );
      expect(
        problemsOf(`${CONFIG_BASE}${NETWORK}${PRIVATE}  subnetIds: [subnet-0a1b2c3d4e5f60007]\n`),
      ).toContain('ingress.subnetIds: an Application Load Balancer needs subnets');
      // Its own subnets may serve a one-subnet network.
      expect(
        parse(
          `${CONFIG_BASE}${oneSubnet}${PRIVATE}  subnetIds: [subnet-0a1b2c3d4e5f60007, subnet-0a1b2c3d4e5f60008]\n`,
        ).ingress,
      ).toMatchObject({ subnetIds: ['subnet-0a1b2c3d4e5f60007', 'subnet-0a1b2c3d4e5f60008'] });
    });
  });
});

describe('the commented-out example in config/deploy.example.yaml', () => {
  it('is a valid private-network config once uncommented', () => {
    const example = readFileSync('config/deploy.example.yaml', 'utf8');
    const start = example.indexOf('# network:');
    expect(start).toBeGreaterThan(0);
    const uncommented = `${example.slice(0, start)}${example
      .slice(start)
      .split('\n')
      .map((line) => line.replace(/^# ?/, ''))
      .join('\n')}`;
    const config = parse(uncommented);
    expect(config.network).toMatchObject({ endpoints: 'create' });
    expect(config.ingress).toMatchObject({ mode: 'private' });
    // As shipped (commented), the example stays without them: the sandbox reads it.
    expect(parse(example).network).toBeUndefined();
  });
});
