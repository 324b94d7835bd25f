import { httpsGet, UnreachableError, type UnreachableReason } from './https-get.ts';

/**
 * GET an appliance's own `/status` (config `statusUrl`, by address). GHES answers 200 only on the
 * active primary; 503 on a passive replica and in maintenance mode. A failover's preflight asks the
 * old primary (does it answer at all?) and its verify step asks the new one until it says 200.
 * No redirect is followed: a 3xx is reported as its code, which is not 200.
 */
export type StatusProbeResult =
  | { readonly status: number; readonly ms: number }
  | { readonly unreachable: UnreachableReason; readonly message: string; readonly ms: number };

export interface StatusProbeOptions {
  /** @default 5000 — a healthy appliance answers /status in milliseconds. */
  readonly timeoutMs?: number;
  /** PEM bundle of an internal CA, added to the default roots. */
  readonly ca?: string;
  /** Name on the appliance's certificate when `statusUrl` holds an IP address (e.g. the GHES hostname). */
  readonly serverName?: string;
}

export const probeStatus = async (
  statusUrl: string,
  options: StatusProbeOptions = {},
): Promise<StatusProbeResult> => {
  const started = Date.now();
  try {
    const { status } = await httpsGet(statusUrl, {
      timeoutMs: options.timeoutMs ?? 5_000,
      discardBody: true,
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.serverName ? { serverName: options.serverName } : {}),
    });
    return { status, ms: Date.now() - started };
  } catch (error) {
    if (error instanceof UnreachableError)
      return { unreachable: error.reason, message: error.message, ms: Date.now() - started };
    return { unreachable: 'network', message: (error as Error).message, ms: Date.now() - started };
  }
};

/** True only for a 200: what "the new primary serves" means for the failover's verify step. */
export const isServing = (result: StatusProbeResult): boolean => 'status' in result && result.status === 200;
