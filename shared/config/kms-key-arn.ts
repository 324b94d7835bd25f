/**
 * A KMS key by its key ARN, not an alias: IAM statements and key grants match the key ARN, and an
 * alias can be moved to another key after the policies were written. Shared by the deployment config
 * (checked at package time) and the functions' environment (checked at cold start); kept free of the
 * schema library so the webhook's bundle does not carry it.
 */
export const KMS_KEY_ARN = /^arn:aws[\w-]*:kms:[a-z0-9-]+:\d{12}:key\/[\w-]+$/;
