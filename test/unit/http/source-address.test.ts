import { describe, expect, it } from 'vitest';
import { createSourceAllowList, parseCidrList } from '../../../shared/http/source-address.ts';
import { ConfigError } from '../../../shared/http/errors.ts';

describe('source allow-list', () => {
  const list = createSourceAllowList(['203.0.113.0/24', '10.20.0.0/16', '2001:db8::/32'], 'TEST');

  it('admits addresses inside an IPv4 block and refuses those just outside it', () => {
    expect(list.allows('203.0.113.0')).toBe(true);
    expect(list.allows('203.0.113.255')).toBe(true);
    expect(list.allows('203.0.114.0')).toBe(false);
    expect(list.allows('203.0.112.255')).toBe(false);
    expect(list.allows('10.20.255.1')).toBe(true);
    expect(list.allows('10.21.0.1')).toBe(false);
  });

  it('admits addresses inside an IPv6 block, in any spelling, and refuses others', () => {
    expect(list.allows('2001:db8::1')).toBe(true);
    expect(list.allows('2001:0DB8:0000:0000:0000:0000:0000:0001')).toBe(true);
    expect(list.allows('2001:db9::1')).toBe(false);
  });

  it('matches an IPv6-mapped IPv4 address as the IPv4 address it is', () => {
    expect(list.allows('::ffff:203.0.113.7')).toBe(true);
    expect(list.allows('::ffff:198.51.100.7')).toBe(false);
  });

  it('refuses a missing or unparseable address rather than letting it through', () => {
    expect(list.allows(undefined)).toBe(false);
    expect(list.allows('')).toBe(false);
    expect(list.allows('203.0.113.7, 10.0.0.1')).toBe(false);
    expect(list.allows('not-an-address')).toBe(false);
  });

  it('takes /0 and host-sized blocks as written', () => {
    expect(createSourceAllowList(['0.0.0.0/0'], 'TEST').allows('198.51.100.7')).toBe(true);
    const host = createSourceAllowList(['198.51.100.7/32'], 'TEST');
    expect(host.allows('198.51.100.7')).toBe(true);
    expect(host.allows('198.51.100.8')).toBe(false);
  });

  it.each(['10.0.0.0', '10.0.0.0/33', '10.0.0.0/a', '10.0.0.0/8/8', 'example.com/24', '2001:db8::/129'])(
    'refuses the malformed block %s, naming where it came from',
    (block) => {
      expect(() => createSourceAllowList([block], 'WEBHOOK_ALLOWED_SOURCE_CIDRS')).toThrow(ConfigError);
      expect(() => createSourceAllowList([block], 'WEBHOOK_ALLOWED_SOURCE_CIDRS')).toThrow(
        `WEBHOOK_ALLOWED_SOURCE_CIDRS: "${block}" is not a CIDR block`,
      );
    },
  );

  it('refuses an empty list: an allow-list that admits nobody is a mistake, not a setting', () => {
    expect(() => createSourceAllowList([], 'TEST')).toThrow('TEST: expected at least one CIDR block');
  });

  it('reads the comma-separated variable, blank meaning no list', () => {
    expect(parseCidrList(' 10.0.0.0/8 , 2001:db8::/32,')).toEqual(['10.0.0.0/8', '2001:db8::/32']);
    expect(parseCidrList('')).toBeUndefined();
    expect(parseCidrList(undefined)).toBeUndefined();
  });
});
