import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DOCUMENT_STEP_NAME } from './commands.ts';

/**
 * GetCommandInvocation returns only the first 24,000 characters of stdout and 8,000 of stderr
 * (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetCommandInvocation.html).
 * When SendCommand named an output bucket, the agent also uploads the whole streams to
 * `<prefix>/<commandId>/<instanceId>/awsrunShellScript/<step name>/stdout|stderr` (schemaVersion 2.x
 * documents; the plugin directory, then the step). This reads them back when the inline text is at
 * its limit.
 */
export const INLINE_LIMITS = { stdout: 24_000, stderr: 8_000 } as const;

export type Stream = keyof typeof INLINE_LIMITS;

export interface OutputBucket {
  readonly bucket: string;
  /** Key prefix given to SendCommand as OutputS3KeyPrefix. @default 'ghes-commands' */
  readonly keyPrefix?: string;
}

export const DEFAULT_OUTPUT_KEY_PREFIX = 'ghes-commands';

/** Where the agent writes a stream of our (single-step) documents. */
export const outputKey = (
  output: OutputBucket,
  commandId: string,
  instanceId: string,
  stream: Stream,
): string =>
  [
    output.keyPrefix ?? DEFAULT_OUTPUT_KEY_PREFIX,
    commandId,
    instanceId,
    'awsrunShellScript',
    DOCUMENT_STEP_NAME,
    stream,
  ]
    .filter(Boolean)
    .join('/');

/**
 * The key inside `bucket` of the URL SSM reports (StandardOutputUrl), path-style
 * (`https://s3.<region>.amazonaws.com/<bucket>/<key>`) or virtual-hosted
 * (`https://<bucket>.s3.<region>.amazonaws.com/<key>`); null when it is neither.
 */
export const keyFromOutputUrl = (url: string | undefined, bucket: string): string | null => {
  if (!url) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  const path = parsed.pathname.replace(/^\//, '');
  if (parsed.hostname.startsWith(`${bucket}.`)) return path ? decodeURIComponent(path) : null;
  if (path.startsWith(`${bucket}/`)) return decodeURIComponent(path.slice(bucket.length + 1)) || null;
  return null;
};

export interface FullStream {
  readonly text: string;
  /** Still only the inline part: the limit was reached and the whole stream could not be read. */
  readonly truncated: boolean;
  /** Why the S3 object could not be read (no bucket configured, no object, access denied). */
  readonly readError?: string;
}

/**
 * The whole stream: the inline text when it is under SSM's limit, else the S3 object. When that
 * cannot be read the inline text is kept, marked truncated, with the reason: the exit code is what
 * decides, and a step must not fail over the detail beyond 24,000 characters.
 */
export const fullStream = async (
  s3: S3Client | undefined,
  output: OutputBucket | undefined,
  where: { commandId: string; instanceId: string; stream: Stream; inline: string; url?: string },
): Promise<FullStream> => {
  // SSM counts characters; a JS string's length is never below that count, so this never misses.
  if (where.inline.length < INLINE_LIMITS[where.stream]) return { text: where.inline, truncated: false };
  if (!s3 || !output)
    return { text: where.inline, truncated: true, readError: 'no command output bucket configured' };
  const key =
    keyFromOutputUrl(where.url, output.bucket) ??
    outputKey(output, where.commandId, where.instanceId, where.stream);
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: output.bucket, Key: key }));
    const text = (await object.Body?.transformToString('utf-8')) ?? '';
    return text.length >= where.inline.length
      ? { text, truncated: false }
      : {
          text: where.inline,
          truncated: true,
          readError: `s3://${output.bucket}/${key} is shorter than the inline output`,
        };
  } catch (error) {
    const reason = `${(error as Error).name}: ${(error as Error).message}`;
    return { text: where.inline, truncated: true, readError: `s3://${output.bucket}/${key}: ${reason}` };
  }
};
