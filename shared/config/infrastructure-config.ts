import * as z from 'zod/mini';
import { KMS_KEY_ARN } from './kms-key-arn.ts';

/**
 * Where the stack sits in the customer's AWS: the VPC its GHES-facing functions run in, how GHES
 * reaches the webhook, and the customer-managed KMS keys. Read at package time only
 * (infra/*.cjs shape the template from it); the functions never act on it.
 */

const awsId = (prefix: string, what: string) =>
  z.string().check(z.regex(new RegExp(`^${prefix}-[0-9a-f]{8,17}$`), `expected ${what} (${prefix}-…)`));

const subnetIds = z.array(awsId('subnet', 'a subnet ID')).check(
  z.minLength(1, 'expected at least one subnet'),
  z.refine((ids) => new Set(ids).size === ids.length, 'expected each subnet once'),
);

const certificateArn = z
  .string()
  .check(
    z.regex(
      /^arn:aws[\w-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[\w-]+$/,
      'expected an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)',
    ),
  );

/** IPv4 or IPv6 CIDR blocks: who may deliver webhooks. */
const sourceCidrs = z
  .array(z.union([z.cidrv4(), z.cidrv6()], { error: 'expected a CIDR block such as 10.0.0.0/16' }))
  .check(z.minLength(1, 'expected at least one CIDR block'));

const domainName = z
  .string()
  .check(
    z.regex(
      /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
      'expected a lowercase DNS name such as hooks.example.com',
    ),
  );

/**
 * A KMS key by its key ARN. Not an alias: IAM statements and key grants match the key ARN, and an
 * alias can be moved to another key after the policies were written.
 */
export const kmsKeyArn = z
  .string()
  .check(
    z.regex(KMS_KEY_ARN, 'expected a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias'),
  );

/**
 * The functions that talk to GHES or the appliances (dispatcher, reconciler, failover tasks) run in
 * these subnets. Absent: every function runs outside any VPC, as before, and needs GHES reachable
 * from the internet, which a bank's GHES is not.
 */
export const networkSchema = z.strictObject({
  vpcId: awsId('vpc', 'a VPC ID'),
  /** Private subnets, one per AZ you want the functions in; they need a route to GHES. */
  subnetIds,
  /** Egress to GHES (443), the appliances and the AWS endpoints (443). */
  securityGroupIds: z
    .array(awsId('sg', 'a security group ID'))
    .check(z.minLength(1, 'expected at least one security group')),
  /**
   * `create`: the stack creates the VPC endpoints those functions' AWS calls need (interface
   * endpoints in `subnetIds`, gateway endpoints for DynamoDB and S3 on `routeTableIds`). `none`: the
   * VPC already has a NAT gateway or those endpoints (docs/deploy.md lists them). @default none
   */
  endpoints: z._default(z.enum(['none', 'create']), 'none'),
  /** Route tables of `subnetIds`, for the DynamoDB and S3 gateway endpoints; with endpoints: create. */
  routeTableIds: z.optional(z.array(awsId('rtb', 'a route table ID')).check(z.minLength(1))),
});

/**
 * How GHES reaches `POST /github/webhook`.
 * - `public`: the HTTP API, optionally under your own domain and limited to GHES's egress addresses.
 * - `private`: an internal Application Load Balancer in the VPC (HTTPS, its security group admitting
 *   only `allowedSourceCidrs`) with the webhook function as its target: nothing public.
 */
export const ingressSchema = z.discriminatedUnion(
  'mode',
  [
    z.strictObject({
      mode: z.literal('public'),
      /** A custom domain for the HTTP API; needs `certificateArn` (ACM, same region). */
      domainName: z.optional(domainName),
      certificateArn: z.optional(certificateArn),
      /** Only these source addresses may deliver; others get 403 before anything is read. */
      allowedSourceCidrs: z.optional(sourceCidrs),
    }),
    z.strictObject({
      mode: z.literal('private'),
      /** The ALB's HTTPS listener certificate (ACM; a private CA's is fine if GHES trusts it). */
      certificateArn,
      /** The ALB's subnets, at least two AZs. @default network.subnetIds */
      subnetIds: z.optional(subnetIds),
      /** The ALB's security group admits these on 443, nothing else (GHES's addresses). */
      allowedSourceCidrs: sourceCidrs,
      /** The name your DNS gives the ALB, for the webhook URL output. @default the ALB's own DNS name */
      domainName: z.optional(domainName),
    }),
  ],
  { error: 'expected mode: public or mode: private' },
);

/**
 * Customer-managed KMS keys. `keyArn` is used for every resource below that names no key of its
 * own; a resource with neither keeps its AWS-managed key. Absent: AWS-managed keys throughout.
 */
export const kmsSchema = z.strictObject({
  keyArn: z.optional(kmsKeyArn),
  /** DynamoDB tables. */
  tables: z.optional(kmsKeyArn),
  /** SQS queues (dispatch, dead letters, deploy notifications). */
  queues: z.optional(kmsKeyArn),
  /** The alerts SNS topic. */
  topic: z.optional(kmsKeyArn),
  /** The functions' and state machines' CloudWatch log groups. */
  logs: z.optional(kmsKeyArn),
  /** The runners' SecureString parameters (JIT configs). */
  parameters: z.optional(kmsKeyArn),
  /** The S3 bucket of long command outputs. */
  bucket: z.optional(kmsKeyArn),
  /** Keys the config's Secrets Manager secrets are encrypted with. @default [keyArn] */
  secrets: z.optional(z.array(kmsKeyArn).check(z.minLength(1))),
});

export type NetworkConfig = z.infer<typeof networkSchema>;
export type IngressConfig = z.infer<typeof ingressSchema>;
export type KmsConfig = z.infer<typeof kmsSchema>;

/** Rules across the three sections. */
export const crossCheckInfrastructure = (config: {
  network?: NetworkConfig;
  ingress: IngressConfig;
  kms?: KmsConfig;
}): string[] => {
  const { network, ingress } = config;
  const problems: string[] = [];
  if (network?.endpoints === 'create' && !network.routeTableIds)
    problems.push(
      'network.routeTableIds: required with endpoints: create (the DynamoDB and S3 gateway endpoints)',
    );
  if (network?.endpoints !== 'create' && network?.routeTableIds)
    problems.push('network.routeTableIds: only with endpoints: create');
  if (
    ingress.mode === 'public' &&
    (ingress.domainName === undefined) !== (ingress.certificateArn === undefined)
  )
    problems.push(
      ingress.domainName === undefined
        ? 'ingress.domainName: required with ingress.certificateArn'
        : 'ingress.certificateArn: required with ingress.domainName (an ACM certificate in the stack region)',
    );
  if (ingress.mode === 'private') {
    if (!network)
      problems.push('network: required with ingress.mode private (the load balancer lives in the VPC)');
    const albSubnets = ingress.subnetIds ?? network?.subnetIds ?? [];
    if (network && albSubnets.length < 2)
      problems.push(
        `${ingress.subnetIds ? 'ingress.subnetIds' : 'network.subnetIds'}: an Application Load Balancer needs subnets in at least two Availability Zones`,
      );
  }
  return problems;
};
