import { TwinAwsError, type TwinAwsService } from './aws-endpoint.ts';

/** Parameter Store's PutParameter / GetParameter / DeleteParameter, enough for runner credentials. */
export interface SsmParametersTwin extends TwinAwsService {
  /**
   * What an instance's user data or a build does at boot: read the parameter, then delete it.
   * `asInstance`: the caller is that instance's role, which may read only parameters tagged with
   * its ARN (the runner role's IAM condition); anything else is refused, as IAM would. Each account
   * has its own Parameter Store: an instance reads its account's, a build its own account's.
   */
  take(name: string, options: { account: string; asInstance?: string }): string | undefined;
  tags(name: string, account: string): Readonly<Record<string, string>> | undefined;
  names(): string[];
  /**
   * Every PutParameter that succeeded, in order, without its value: the KMS key it was encrypted
   * with is `KeyId` as given, or Parameter Store's default `alias/aws/ssm` for a SecureString
   * written without one (as Parameter Store does, an overwrite included).
   */
  writes(): readonly ParameterWrite[];
}

export interface ParameterWrite {
  readonly account: string;
  readonly name: string;
  readonly type: string;
  readonly keyId?: string;
}

const NAME = /^[a-zA-Z0-9_.\-/]{1,2048}$/;

export const createSsmParametersTwin = (
  options: { homeAccount: string; accountOf?: (caller: string) => string } = { homeAccount: '111122223333' },
): SsmParametersTwin => {
  const accountOf = options.accountOf ?? (() => options.homeAccount);
  /** One store, keyed by account and name. */
  const key = (account: string, name: string) => `${account}\u0000${name}`;
  const parameters = new Map<
    string,
    { value: string; type: string; version: number; tags: Record<string, string> }
  >();
  const writes: ParameterWrite[] = [];
  return {
    id: 'ssm',
    signingName: 'ssm',
    protocol: 'json',
    operations: {
      PutParameter: { ParameterAlreadyExists: 400, TooManyUpdates: 400, ValidationException: 400 },
      GetParameter: { ParameterNotFound: 400 },
      DeleteParameter: { ParameterNotFound: 400 },
    },
    async handle({ operation, input, caller }) {
      const name = String(input.Name ?? '');
      if (!NAME.test(name))
        throw new TwinAwsError('ValidationException', `parameter name ${name} is not valid`);
      const account = caller ? accountOf(caller) : options.homeAccount;
      const stored = key(account, name);
      const existing = parameters.get(stored);
      switch (operation) {
        case 'PutParameter': {
          const tags = Array.isArray(input.Tags) ? (input.Tags as { Key: string; Value: string }[]) : [];
          if (tags.length && input.Overwrite) {
            // Parameter Store's own rule: tags only on create.
            throw new TwinAwsError(
              'ValidationException',
              "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.",
            );
          }
          if (existing && !input.Overwrite) {
            throw new TwinAwsError('ParameterAlreadyExists', 'The parameter already exists.');
          }
          const version = (existing?.version ?? 0) + 1;
          const type = String(input.Type ?? 'String');
          if (input.KeyId !== undefined && type !== 'SecureString')
            throw new TwinAwsError('ValidationException', 'KeyId is only for SecureString parameters.');
          writes.push({
            account,
            name,
            type,
            ...(type === 'SecureString' ? { keyId: String(input.KeyId ?? 'alias/aws/ssm') } : {}),
          });
          parameters.set(stored, {
            value: String(input.Value ?? ''),
            type,
            version,
            tags: existing?.tags ?? Object.fromEntries(tags.map((t) => [t.Key, t.Value])),
          });
          return { Version: version, Tier: 'Standard' };
        }
        case 'GetParameter':
          if (!existing) throw new TwinAwsError('ParameterNotFound', `Parameter ${name} not found.`);
          return {
            Parameter: {
              Name: name,
              Type: existing.type,
              // SecureStrings come back encrypted unless the caller asked for decryption.
              Value:
                existing.type === 'SecureString' && !input.WithDecryption
                  ? 'AQICAH…(encrypted)'
                  : existing.value,
              Version: existing.version,
            },
          };
        default:
          if (!existing) throw new TwinAwsError('ParameterNotFound', `Parameter ${name} not found.`);
          parameters.delete(stored);
          return {};
      }
    },
    take(name, { account, asInstance }) {
      const parameter = parameters.get(key(account, name));
      if (!parameter) return undefined;
      if (asInstance !== undefined && parameter.tags['ghes-cp:instance-arn'] !== asInstance) return undefined;
      parameters.delete(key(account, name));
      return parameter.value;
    },
    tags: (name, account) => parameters.get(key(account, name))?.tags,
    names: () => [...parameters.keys()].map((k) => k.split('\u0000')[1]!),
    writes: () => writes,
  };
};
