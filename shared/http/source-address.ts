import { ConfigError } from './errors.ts';

/**
 * Who may deliver webhooks, by source address (`ingress.allowedSourceCidrs`). HTTP APIs have no
 * resource policy and no WAF, so the function itself refuses other senders, before it reads a
 * secret or the body. IPv4 and IPv6; an IPv4 address written IPv6-mapped (`::ffff:10.0.0.1`, as a
 * dual-stack socket reports it) is matched as the IPv4 address it is.
 */
export interface SourceAllowList {
  /** Whether `address` (the TCP peer the front door saw) is inside one of the blocks. */
  allows(address: string | undefined): boolean;
}

const MAPPED_IPV4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * Builds the list from CIDR blocks such as `10.0.0.0/16` or `2001:db8::/32`. A malformed block is a
 * deployment error naming `source` (the variable or key it came from), never a silently open list.
 */
export const createSourceAllowList = (cidrs: readonly string[], source: string): SourceAllowList => {
  if (cidrs.length === 0) throw new ConfigError(`${source}: expected at least one CIDR block`);
  // Taken here, not imported: the webhook's cold start would load node:net whether or not a list is
  // configured (shared/aws/http-transport.ts says what an import of a built-in costs).
  const { BlockList, isIP } = process.getBuiltinModule('node:net');
  const blocks = new BlockList();
  for (const cidr of cidrs) {
    const [address = '', prefix, extra] = cidr.trim().split('/');
    const family = isIP(address);
    const bits = Number(prefix);
    const max = family === 4 ? 32 : 128;
    if (family === 0 || extra !== undefined || !/^\d{1,3}$/.test(prefix ?? '') || bits > max)
      throw new ConfigError(`${source}: "${cidr}" is not a CIDR block such as 10.0.0.0/16 or 2001:db8::/32`);
    blocks.addSubnet(address, bits, family === 4 ? 'ipv4' : 'ipv6');
  }
  return {
    allows(address) {
      if (!address) return false;
      const plain = MAPPED_IPV4.exec(address)?.[1] ?? address;
      const family = isIP(plain);
      if (family === 0) return false;
      return blocks.check(plain, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
};

/** `WEBHOOK_ALLOWED_SOURCE_CIDRS`-style text: comma-separated blocks; blank means no list. */
export const parseCidrList = (text: string | undefined): string[] | undefined => {
  const blocks = (text ?? '')
    .split(',')
    .map((block) => block.trim())
    .filter(Boolean);
  return blocks.length > 0 ? blocks : undefined;
};
