import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

/**
 * The deploy without the framework (docs/deploy.md, "Deploying without osls"): `osls package` leaves a
 * template whose functions' code lives in `ServerlessDeploymentBucket`, a bucket the same template
 * creates, so CloudFormation alone could never create the functions (their zips must be in S3 before
 * the stack exists). osls deploys in two steps to get round that; this script instead points every
 * function's code at a bucket the operator already has, drops the deployment bucket and its policy and
 * output, and lays the zips out under the keys the template now names, ready for `aws s3 cp --recursive`.
 * Offline: it uploads nothing.
 */

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
}
interface Template {
  Resources: Record<string, Resource>;
  Outputs?: Record<string, unknown>;
}

const DEPLOYMENT_BUCKET = 'ServerlessDeploymentBucket';
const DEPLOYMENT_BUCKET_PARTS = [DEPLOYMENT_BUCKET, 'ServerlessDeploymentBucketPolicy'];
const DEPLOYMENT_BUCKET_OUTPUT = 'ServerlessDeploymentBucketName';

/** S3's rules for a general-purpose bucket name, so a typo fails here and not halfway through a deploy. */
const bucketName = /^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export class ArtifactsError extends Error {}

export interface Artifacts {
  /** The template to give `aws cloudformation deploy`. */
  readonly template: Template;
  /** S3 key → the zip in the package directory that goes there. */
  readonly uploads: ReadonlyMap<string, string>;
}

/** Rewrites a packaged template (pure: no files touched) for code in `bucket` under `prefix`. */
export const rewriteForBucket = (
  packaged: Template,
  packageDir: string,
  bucket: string,
  prefix = '',
): Artifacts => {
  if (!bucketName.test(bucket)) throw new ArtifactsError(`--bucket: "${bucket}" is not an S3 bucket name`);
  const keyPrefix = prefix.replace(/^\/+|\/+$/g, '');
  const template = structuredClone(packaged);
  const uploads = new Map<string, string>();
  for (const [name, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const code = resource.Properties?.Code as { S3Bucket?: unknown; S3Key?: unknown } | undefined;
    if (typeof code?.S3Key !== 'string') {
      throw new ArtifactsError(`${name}: Code.S3Key is not a string; not a template osls packaged`);
    }
    const zip = join(packageDir, basename(code.S3Key));
    if (!existsSync(zip)) throw new ArtifactsError(`${name}: ${zip} is missing; run npm run package first`);
    const key = keyPrefix ? `${keyPrefix}/${code.S3Key}` : code.S3Key;
    code.S3Bucket = bucket;
    code.S3Key = key;
    uploads.set(key, zip);
  }
  if (uploads.size === 0) throw new ArtifactsError('the template has no Lambda functions');
  for (const part of DEPLOYMENT_BUCKET_PARTS) delete template.Resources[part];
  delete template.Outputs?.[DEPLOYMENT_BUCKET_OUTPUT];
  const leftover = Object.keys(template.Resources).filter((name) =>
    JSON.stringify(template.Resources[name]).includes(`"${DEPLOYMENT_BUCKET}"`),
  );
  if (leftover.length > 0) {
    throw new ArtifactsError(`still refer to ${DEPLOYMENT_BUCKET}: ${leftover.join(', ')}`);
  }
  return { template, uploads };
};

/** Reads `<packageDir>/cloudformation-template-update-stack.json`, writes `<out>/template.json` and `<out>/artifacts/<key>`. */
export const writeArtifacts = (options: {
  packageDir: string;
  bucket: string;
  prefix?: string;
  out: string;
}): Artifacts => {
  const source = join(options.packageDir, 'cloudformation-template-update-stack.json');
  if (!existsSync(source)) throw new ArtifactsError(`${source} is missing; run npm run package first`);
  const artifacts = rewriteForBucket(
    JSON.parse(readFileSync(source, 'utf8')) as Template,
    options.packageDir,
    options.bucket,
    options.prefix,
  );
  // Stale zips of an earlier package must not be uploaded with these.
  rmSync(options.out, { recursive: true, force: true });
  for (const [key, zip] of artifacts.uploads) {
    const target = join(options.out, 'artifacts', key);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(zip, target);
  }
  writeFileSync(join(options.out, 'template.json'), JSON.stringify(artifacts.template, null, 2));
  return artifacts;
};

const main = () => {
  const { values } = parseArgs({
    options: {
      bucket: { type: 'string' },
      prefix: { type: 'string', default: '' },
      'package-dir': { type: 'string', default: '.serverless' },
      out: { type: 'string', default: 'dist/cfn' },
    },
  });
  if (!values.bucket) throw new ArtifactsError('--bucket: required (an S3 bucket in the stack region)');
  const { uploads } = writeArtifacts({
    packageDir: values['package-dir'],
    bucket: values.bucket,
    prefix: values.prefix,
    out: values.out,
  });
  console.log(
    `${values.out}/template.json: ${uploads.size} functions' code in s3://${values.bucket}/; upload ${values.out}/artifacts/ there first`,
  );
};

/** Run as a script, also through a symlinked scripts/ (import.meta.url is the resolved path). */
const invokedDirectly = () => {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
};

if (invokedDirectly()) {
  try {
    main();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}
