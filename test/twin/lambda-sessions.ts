import { randomBytes } from 'node:crypto';
import { TwinAwsError, type TwinAwsService } from './aws-endpoint.ts';

/**
 * Credentials per Lambda execution environment. On AWS a timed-out invocation's environment is
 * reset: whatever it was doing never reaches AWS again. The twin cannot freeze a promise, so each
 * container signs with its own session token, and once the container is discarded every call
 * signed with that token — or with a role session it assumed — is refused before it has any effect.
 */
export interface LambdaSessions {
  /** A session token for a new container of `functionName`. */
  issue(functionName: string): string;
  /** The container is gone: its token, and the role sessions it assumed, stop working. */
  discard(sessionToken: string): void;
  /** Calls refused so far, per discarded token: the in-flight work that would have reached AWS. */
  readonly refused: readonly {
    readonly sessionToken: string;
    readonly target: string;
    readonly at: number;
  }[];
  /** Wraps a twin service so that it refuses calls from discarded containers. */
  guard(service: TwinAwsService): TwinAwsService;
}

const tokenOf = (headers: Record<string, string | string[] | undefined>) => {
  const token = headers['x-amz-security-token'];
  return Array.isArray(token) ? token[0] : token;
};

export const createLambdaSessions = (): LambdaSessions => {
  const issued = new Set<string>();
  const discarded = new Set<string>();
  /** Assumed-role access key → the container token that assumed it. */
  const assumedBy = new Map<string, string>();
  const refused: { sessionToken: string; target: string; at: number }[] = [];

  return {
    issue(functionName) {
      const token = `twin-lambda/${functionName}/${randomBytes(8).toString('hex')}`;
      issued.add(token);
      return token;
    },
    discard(sessionToken) {
      discarded.add(sessionToken);
    },
    refused,
    guard(service) {
      return {
        id: service.id,
        signingName: service.signingName,
        protocol: service.protocol,
        // REST-XML services route by path and shape their own errors.
        ...(service.route ? { route: service.route.bind(service) } : {}),
        ...(service.errorXml ? { errorXml: service.errorXml.bind(service) } : {}),
        get operations() {
          return service.operations;
        },
        async handle(request) {
          const token = tokenOf(request.headers);
          const container = token && issued.has(token) ? token : assumedBy.get(request.caller);
          if (container && discarded.has(container)) {
            refused.push({
              sessionToken: container,
              target: `${service.id}:${request.operation}`,
              at: Date.now(),
            });
            // What AWS answers a token it no longer honours; the call has no effect.
            throw new TwinAwsError(
              'ExpiredTokenException',
              'The security token included in the request is expired (its Lambda execution environment was reset)',
              400,
            );
          }
          const output = await service.handle(request);
          if (container && service.id === 'sts' && typeof output === 'string') {
            const key = /<AccessKeyId>([^<]+)<\/AccessKeyId>/.exec(output)?.[1];
            if (key) assumedBy.set(key, container);
          }
          return output;
        },
      };
    },
  };
};
