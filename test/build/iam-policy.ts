/**
 * Just enough of IAM's policy evaluation to ask a packaged template "would this role be allowed
 * this call?": Allow statements, `*`/`?` wildcards in actions and resources, and the StringEquals /
 * StringLike conditions on resource tags and request context the stack uses. Anything else in a
 * statement is refused with an error naming it, so a new kind of condition cannot pass unchecked.
 */
export interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

export interface CallRequest {
  readonly action: string;
  /** The ARN the call acts on. */
  readonly resource: string;
  /** The resource's tags (`aws:ResourceTag/…`, `ssm:resourceTag/…`). */
  readonly resourceTags?: Readonly<Record<string, string>>;
  /** Request context keys, e.g. `ec2:SourceInstanceARN` for a call from an instance role. */
  readonly context?: Readonly<Record<string, string>>;
  /** Multi-valued request keys, e.g. `route53:ChangeResourceRecordSetsNormalizedRecordNames`. */
  readonly multiContext?: Readonly<Record<string, readonly string[]>>;
}

/** Where the stack is deployed: what CloudFormation puts in its pseudo parameters. */
export interface Deployment {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/** A CloudFormation value as the deployed policy has it: Fn::Sub over pseudo parameters, Fn::Join. */
export const resolveValue = (value: unknown, at: Deployment): string => {
  if (typeof value === 'string') return value;
  const intrinsic = value as Record<string, unknown>;
  const pseudoRef = {
    'AWS::Partition': at.partition,
    'AWS::Region': at.region,
    'AWS::AccountId': at.account,
  }[intrinsic.Ref as string];
  if (pseudoRef !== undefined) return pseudoRef;
  if (typeof intrinsic['Fn::Sub'] === 'string') {
    const pseudo: Record<string, string> = {
      'AWS::Partition': at.partition,
      'AWS::Region': at.region,
      'AWS::AccountId': at.account,
    };
    return intrinsic['Fn::Sub'].replace(/\$\{([^}]+)\}/g, (whole, name: string) => {
      if (!(name in pseudo)) throw new Error(`Fn::Sub: ${whole} is not a pseudo parameter this check knows`);
      return pseudo[name]!;
    });
  }
  const join = intrinsic['Fn::Join'] as [string, unknown[]] | undefined;
  if (join) return join[1].map((part) => resolveValue(part, at)).join(join[0]);
  throw new Error(`cannot resolve ${JSON.stringify(value)} offline`);
};

const wildcard = (pattern: string, text: string) =>
  new RegExp(
    `^${pattern.replace(/[.+^${}()|[\]\\*?]/g, (c) => (c === '*' ? '.*' : c === '?' ? '.' : `\\${c}`))}$`,
  ).test(text);

/** `${ec2:SourceInstanceARN}` and the like in a condition value, from the request context. */
const withPolicyVariables = (value: string, context: Readonly<Record<string, string>>) =>
  value.replace(/\$\{([^}]+)\}/g, (_, key: string) => context[key] ?? `\u0000unset ${key}`);

const keyValue = (key: string, request: CallRequest): string | undefined => {
  const tag = /^(?:aws:ResourceTag|ssm:resourceTag)\/(.+)$/.exec(key);
  return tag ? request.resourceTags?.[tag[1]!] : request.context?.[key];
};

/**
 * `ForAllValues:StringEquals`: every value the request carries for the key is among the expected
 * ones. As in IAM, a request without the key passes (the set-operator trap policies must avoid).
 */
const forAllValuesHolds = (key: string, expected: unknown, request: CallRequest, at: Deployment) => {
  const allowed = [expected].flat().map((value) => resolveValue(value, at));
  return (request.multiContext?.[key] ?? []).every((value) => allowed.includes(value));
};

const conditionHolds = (
  operator: string,
  key: string,
  expected: unknown,
  request: CallRequest,
  at: Deployment,
) => {
  if (operator === 'ForAllValues:StringEquals') return forAllValuesHolds(key, expected, request, at);
  const match = { StringEquals: (a: string, b: string) => a === b, StringLike: wildcard }[operator];
  if (!match) throw new Error(`condition operator ${operator} is not one this check knows`);
  const actual = keyValue(key, request);
  if (actual === undefined) return false; // IAM: a missing key never matches a String condition
  return [expected]
    .flat()
    .some((value) => match(withPolicyVariables(resolveValue(value, at), request.context ?? {}), actual));
};

/** Whether this Allow statement grants the call (it is the only statement a test asks about). */
export const allows = (statement: Statement, request: CallRequest, at: Deployment): boolean => {
  if (statement.Effect !== 'Allow') throw new Error(`Effect ${statement.Effect} is not one this check knows`);
  // Resources are resolved only for a statement about this action: others may name stack
  // resources (Fn::GetAtt) that exist only once deployed.
  return (
    [statement.Action].flat().some((action) => wildcard(action, request.action)) &&
    [statement.Resource].flat().some((resource) => wildcard(resolveValue(resource, at), request.resource)) &&
    Object.entries(statement.Condition ?? {}).every(([operator, keys]) =>
      Object.entries(keys).every(([key, expected]) => conditionHolds(operator, key, expected, request, at)),
    )
  );
};

/** The statements of a role's inline policies in a packaged template. */
export const statementsOf = (
  resources: Record<string, { Properties?: Record<string, unknown> }>,
  role: string,
): Statement[] => {
  const policies = resources[role]?.Properties?.Policies as
    { PolicyDocument: { Statement: Statement[] } }[] | undefined;
  if (!policies) throw new Error(`the template has no role ${role} with inline policies`);
  return policies.flatMap((policy) => policy.PolicyDocument.Statement);
};

/** Whether any statement of the role allows the call. */
export const roleAllows = (statements: readonly Statement[], request: CallRequest, at: Deployment) =>
  statements.some((statement) => allows(statement, request, at));

/**
 * The statements that apply to a role: its inline policies and every stand-alone AWS::IAM::Policy
 * that names it in `Roles` (the cross-account, Slack-token, VPC network-interface and KMS policies).
 */
export const attachedStatementsOf = (
  resources: Record<string, { Type?: string; Properties?: Record<string, unknown> }>,
  role: string,
): Statement[] => [
  ...statementsOf(resources, role),
  ...Object.values(resources)
    .filter(
      (resource) =>
        resource.Type === 'AWS::IAM::Policy' &&
        (resource.Properties?.Roles as { Ref?: string }[] | undefined)?.some((ref) => ref.Ref === role),
    )
    .flatMap((resource) => (resource.Properties!.PolicyDocument as { Statement: Statement[] }).Statement),
];
