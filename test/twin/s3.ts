import { createHash, randomUUID } from 'node:crypto';
import { escapeXml, TwinAwsError, type TwinAwsService } from './aws-endpoint.ts';

/**
 * S3 for the twin, only what reading SSM command output needs: GetObject, HeadObject and
 * ListObjectsV2 on path-style URLs (`/<bucket>/<key>`; the SDK uses them for an IP endpoint, or with
 * `forcePathStyle`). Objects are put by the twin itself (the SSM agent uploading a command's full
 * stdout/stderr). An unknown bucket answers NoSuchBucket, an unknown key NoSuchKey, both 404.
 * Fault targets: `s3:<Op>`.
 */
export interface S3Object {
  readonly body: Buffer;
  readonly contentType: string;
  readonly lastModified: Date;
  readonly etag: string;
}

export interface S3Twin extends TwinAwsService {
  createBucket(bucket: string): void;
  put(bucket: string, key: string, body: string | Buffer, contentType?: string): void;
  get(bucket: string, key: string): S3Object | undefined;
  keys(bucket: string): string[];
}

const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

export const createS3Twin = (): S3Twin => {
  const buckets = new Map<string, Map<string, S3Object>>();
  const bucketOf = (name: string) => {
    const bucket = buckets.get(name);
    if (!bucket)
      throw new TwinAwsError('NoSuchBucket', 'The specified bucket does not exist', 404, {
        BucketName: name,
      });
    return bucket;
  };
  const objectOf = (bucket: string, key: string) => {
    const object = bucketOf(bucket).get(key);
    if (!object) throw new TwinAwsError('NoSuchKey', 'The specified key does not exist.', 404, { Key: key });
    return object;
  };
  const headers = (o: S3Object) => ({
    'content-type': o.contentType,
    'content-length': String(o.body.length),
    etag: o.etag,
    'last-modified': o.lastModified.toUTCString(),
    'accept-ranges': 'bytes',
  });

  return {
    id: 's3',
    signingName: 's3',
    protocol: 'rest-xml',
    operations: {
      GetObject: { NoSuchBucket: 404, NoSuchKey: 404, SlowDown: 503 },
      HeadObject: { NoSuchBucket: 404, NoSuchKey: 404 },
      ListObjectsV2: { NoSuchBucket: 404, SlowDown: 503 },
    },
    route(method, path, query) {
      const [, bucket, ...rest] = path.split('/');
      if (!bucket) return undefined;
      const key = rest.map(decodeURIComponent).join('/');
      if (!key && method === 'GET' && query.get('list-type') === '2')
        return {
          operation: 'ListObjectsV2',
          input: { bucket, prefix: query.get('prefix') ?? '', maxKeys: query.get('max-keys') },
        };
      if (!key) return undefined;
      if (method === 'GET') return { operation: 'GetObject', input: { bucket, key } };
      if (method === 'HEAD') return { operation: 'HeadObject', input: { bucket, key } };
      return undefined;
    },
    errorXml: (code, message, _status, extra) =>
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message>${Object.entries(
        extra,
      )
        .map(([k, v]) => `<${k}>${escapeXml(String(v))}</${k}>`)
        .join('')}<RequestId>${randomUUID()}</RequestId></Error>`,
    async handle({ operation, input }) {
      const bucket = String(input.bucket);
      switch (operation) {
        case 'GetObject':
        case 'HeadObject': {
          const object = objectOf(bucket, String(input.key));
          return { status: 200, headers: headers(object), body: object.body };
        }
        case 'ListObjectsV2': {
          const prefix = String(input.prefix);
          const maxKeys = input.maxKeys ? Number(input.maxKeys) : 1000;
          const keys = [...bucketOf(bucket).keys()].filter((k) => k.startsWith(prefix)).sort();
          const page = keys.slice(0, maxKeys);
          const contents = page
            .map((key) => {
              const o = buckets.get(bucket)!.get(key)!;
              return `<Contents><Key>${escapeXml(key)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${escapeXml(o.etag)}</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
            })
            .join('');
          return `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="${S3_NS}"><Name>${escapeXml(bucket)}</Name><Prefix>${escapeXml(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${keys.length > page.length}</IsTruncated>${contents}</ListBucketResult>`;
        }
        default:
          throw new Error(`the S3 twin lists ${operation} but does not handle it`);
      }
    },
    createBucket(bucket) {
      if (!buckets.has(bucket)) buckets.set(bucket, new Map());
    },
    put(bucket, key, body, contentType = 'text/plain; charset=utf-8') {
      const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
      bucketOf(bucket).set(key, {
        body: bytes,
        contentType,
        lastModified: new Date(),
        etag: `"${createHash('md5').update(bytes).digest('hex')}"`,
      });
    },
    get: (bucket, key) => buckets.get(bucket)?.get(key),
    keys: (bucket) => [...(buckets.get(bucket)?.keys() ?? [])].sort(),
  };
};
