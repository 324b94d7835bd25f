import * as z from 'zod/mini';

/** Building blocks the deployment config's sections share. */
export const nonEmpty = z.string().check(z.minLength(1, 'expected a non-empty string'));
export const arn = z.string().check(z.regex(/^arn:aws[\w-]*:/, 'expected an ARN (arn:aws:…)'));
/**
 * A Secrets Manager secret: its full ARN (name + the six random characters AWS appends) or the
 * partial one without them. IAM grants `<arn>-??????` for a partial ARN (infra/deployment-config.cjs),
 * since a policy naming the partial ARN itself never matches the real secret.
 */
export const secretArn = z
  .string()
  .check(
    z.regex(
      /^arn:aws[\w-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$/,
      'expected a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)',
    ),
  );
