import { describe, expect, it } from 'vitest';
import type { PoolConfig } from '../../../shared/config/deployment-config.ts';
import { createRouter, type RoutableJob, type Route } from '../../../shared/routing/route-job.ts';

const pool = (name: string, labels: string[], extra: Partial<PoolConfig> = {}): PoolConfig => ({
  name,
  provider: 'codebuild',
  labels,
  priority: 0,
  maxConcurrent: 2,
  idleMinutes: 10,
  codebuild: { project: `${name}-runners` },
  ...extra,
});

const job = (labels: string[], extra: Partial<RoutableJob> = {}): RoutableJob => ({
  labels,
  workflowName: 'CI',
  repository: 'acme/app',
  headBranch: 'main',
  runId: 4242,
  runAttempt: 1,
  ...extra,
});

const poolName = (route: Route): string => (route.kind === 'pool' ? route.pool.name : `(${route.kind})`);
const reason = (route: Route): string => (route.kind === 'unmatched' ? route.reason : `(${route.kind})`);

describe('label matching', () => {
  const router = createRouter([pool('linux', ['self-hosted', 'Linux', 'X64'])]);

  it('routes a job whose labels are a subset of the pool labels, ignoring case', () => {
    expect(poolName(router.route(job(['SELF-HOSTED', 'linux'])))).toBe('linux');
    expect(poolName(router.route(job(['x64'])))).toBe('linux');
  });

  it('routes a job whose labels equal the pool labels', () => {
    expect(poolName(router.route(job(['self-hosted', 'linux', 'x64'])))).toBe('linux');
  });

  it('leaves unmatched a job with one label more than the pool has', () => {
    expect(router.route(job(['self-hosted', 'linux', 'x64', 'gpu'])).kind).toBe('unmatched');
  });

  it('leaves unmatched a job with no labels instead of handing it to any pool', () => {
    expect(router.route(job([]))).toEqual({
      kind: 'unmatched',
      reason: expect.stringContaining('no labels'),
    });
  });
});

describe('priority', () => {
  it('picks the highest-priority matching pool whatever the config order', () => {
    const router = createRouter([
      pool('low', ['linux'], { priority: -1 }),
      pool('mid', ['linux']),
      pool('high', ['linux', 'x64'], { priority: 5 }),
    ]);
    expect(poolName(router.route(job(['linux'])))).toBe('high');
    expect(poolName(router.route(job(['linux', 'gpu'])))).toBe('(unmatched)');
  });

  it('breaks priority ties by config order', () => {
    const router = createRouter([pool('first', ['linux']), pool('second', ['linux'])]);
    expect(poolName(router.route(job(['linux'])))).toBe('first');
    expect(poolName(createRouter([pool('b', ['linux']), pool('a', ['linux'])]).route(job(['linux'])))).toBe(
      'b',
    );
  });

  it('falls through to a lower-priority pool when a filter excludes the higher one', () => {
    const router = createRouter([
      pool('general', ['linux']),
      pool('release', ['linux'], { priority: 9, branches: ['release/**'] }),
    ]);
    expect(poolName(router.route(job(['linux'], { headBranch: 'release/2.0' })))).toBe('release');
    expect(poolName(router.route(job(['linux'], { headBranch: 'main' })))).toBe('general');
  });
});

describe('workflow name per environment', () => {
  const envs = ['dev', 'stg', 'prd'];
  const router = createRouter(
    envs.map((env) =>
      pool(`${env}-deploy`, ['self-hosted', 'deploy'], { workflowName: `^(action.*${env}-deploy)$` }),
    ),
  );

  it.each(envs)('sends action-app-%s-deploy to that environment only', (env) => {
    expect(poolName(router.route(job(['deploy'], { workflowName: `action-app-${env}-deploy` })))).toBe(
      `${env}-deploy`,
    );
  });

  it.each(['action-app-prd-deploy-2', 'my-action-app-prd-deploy', 'Action-app-prd-deploy'])(
    'leaves unmatched %s because the regex is anchored and case-sensitive',
    (workflowName) => {
      expect(router.route(job(['deploy'], { workflowName })).kind).toBe('unmatched');
    },
  );

  it('excludes a job with no workflow name from a pool with the filter but not from one without', () => {
    expect(reason(router.route(job(['deploy'], { workflowName: null })))).toMatch(
      /^pool dev-deploy: job has no workflow name/,
    );
    const open = createRouter([...envs.map((env) => router.pool(`${env}-deploy`)!), pool('any', ['deploy'])]);
    expect(poolName(open.route(job(['deploy'], { workflowName: null })))).toBe('any');
  });

  it('names the excluding pool and its regex in the reason', () => {
    const prd = createRouter([router.pool('prd-deploy')!]);
    expect(reason(prd.route(job(['deploy'])))).toBe(
      'pool prd-deploy: workflow name "CI" does not match ^(action.*prd-deploy)$; labels [deploy]',
    );
    expect(reason(router.route(job(['deploy'])))).toContain('(+2 more pools excluded by filters)');
  });

  it('refuses at creation a pool whose workflowName is not a regex', () => {
    expect(() => createRouter([pool('bad', ['x'], { workflowName: '(' })])).toThrow(SyntaxError);
  });
});

describe('repository globs', () => {
  const router = createRouter([pool('acme', ['linux'], { repositories: ['acme/*', 'partner/shared'] })]);

  it.each(['acme/app', 'ACME/App', 'acme/.github', 'partner/shared'])('routes %s', (repository) => {
    expect(poolName(router.route(job(['linux'], { repository })))).toBe('acme');
  });

  it.each(['acme/app/x', 'other/app', 'partner/shared2', 'acme'])('leaves %s unmatched', (repository) => {
    expect(reason(router.route(job(['linux'], { repository })))).toBe(
      `pool acme: repository "${repository}" matches none of [acme/*, partner/shared]; labels [linux]`,
    );
  });
});

describe('branch globs', () => {
  const router = createRouter([pool('rel', ['linux'], { branches: ['release/**', 'main', 'feature/*'] })]);

  it.each(['release/1.2/hotfix', 'release/2', 'main', 'feature/a'])('routes branch %s', (headBranch) => {
    expect(poolName(router.route(job(['linux'], { headBranch })))).toBe('rel');
  });

  it.each(['feature/a/b', 'Main', 'develop', 'releases/1'])('leaves branch %s unmatched', (headBranch) => {
    expect(reason(router.route(job(['linux'], { headBranch })))).toContain(
      `branch "${headBranch}" matches none`,
    );
  });

  it('excludes a job with no head branch from a pool with branch filters but not from one without', () => {
    expect(reason(router.route(job(['linux'], { headBranch: null })))).toMatch(
      /^pool rel: job has no head branch/,
    );
    const open = createRouter([pool('rel', ['linux'], { branches: ['main'] }), pool('any', ['linux'])]);
    expect(poolName(open.route(job(['linux'], { headBranch: null })))).toBe('any');
  });
});

describe('CodeBuild runner label scheme', () => {
  const router = createRouter([pool('linux', ['self-hosted', 'codebuild-runners-4242-1', 'image:x'])]);

  it('routes codebuild-<project>-<run_id>-<run_attempt> of this run to the project, ahead of pools', () => {
    expect(router.route(job(['codebuild-runners-4242-1']))).toStrictEqual({
      kind: 'codebuild-project',
      project: 'runners',
    });
  });

  it.each([
    ['codebuild-my-big-project-4242-1', 'my-big-project'],
    ['codebuild-Build_2-7-4242-1', 'Build_2-7'],
  ])('takes the ids from the end of %s', (label, project) => {
    expect(router.route(job([label]))).toMatchObject({ kind: 'codebuild-project', project });
  });

  it.each(['codebuild-runners-4243-1', 'codebuild-runners-4242-2', 'codebuild-runners-04242-1'])(
    'treats %s, which names another run, as an ordinary label',
    (label) => {
      expect(reason(router.route(job([label])))).toBe(`labels [${label}] matched no pool`);
    },
  );

  it('routes a job re-run as attempt 2 to a pool that lists its stale attempt-1 label', () => {
    expect(poolName(router.route(job(['codebuild-runners-4242-1'], { runAttempt: 2 })))).toBe('linux');
  });

  it.each([
    ['small', 'BUILD_GENERAL1_SMALL'],
    ['medium', 'BUILD_GENERAL1_MEDIUM'],
    ['large', 'BUILD_GENERAL1_LARGE'],
    ['xlarge', 'BUILD_GENERAL1_XLARGE'],
    ['2xlarge', 'BUILD_GENERAL1_2XLARGE'],
  ])('maps instance-size:%s to %s', (size, computeType) => {
    const route = router.route(job(['codebuild-runners-4242-1', `instance-size:${size}`]));
    expect(route).toStrictEqual({ kind: 'codebuild-project', project: 'runners', computeType });
  });

  it('takes image:<value> verbatim and ignores unknown sizes and other extra labels', () => {
    const labels = ['self-hosted', 'image:aws/codebuild/standard:7.0', 'instance-size:huge', 'fleet:x'];
    expect(router.route(job(['codebuild-runners-4242-1', ...labels]))).toStrictEqual({
      kind: 'codebuild-project',
      project: 'runners',
      image: 'aws/codebuild/standard:7.0',
    });
  });

  it('treats override labels without a codebuild label of this run as ordinary labels', () => {
    expect(poolName(router.route(job(['image:x', 'self-hosted'])))).toBe('linux');
    expect(router.route(job(['instance-size:small'])).kind).toBe('unmatched');
  });
});

describe('unmatched reasons and pool lookup', () => {
  const router = createRouter([pool('linux', ['self-hosted', 'linux'])]);

  it('names the labels when no pool has them all', () => {
    expect(reason(router.route(job(['self-hosted', 'gpu'])))).toBe(
      'labels [self-hosted, gpu] matched no pool',
    );
  });

  it('keeps the reason under 200 characters for long labels', () => {
    const text = reason(router.route(job(Array.from({ length: 30 }, (_, i) => `label-number-${i}`))));
    expect(text).toMatch(/^labels \[label-number-0, .*…$/);
    expect(text.length).toBeLessThanOrEqual(200);
  });

  it('finds a pool by name for fallbacks and nothing for an unknown name', () => {
    expect(router.pool('linux')?.labels).toEqual(['self-hosted', 'linux']);
    expect(router.pool('Linux')).toBeUndefined();
  });
});

describe('random label sets', () => {
  // Seeded (mulberry32) so a failure reproduces; the seed goes into the assertion message.
  const random = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const alphabet = ['self-hosted', 'linux', 'x64', 'arm64', 'gpu'];
  const pick = (next: () => number, size: number) =>
    alphabet.filter(() => next() < size / alphabet.length).map((l) => (next() < 0.3 ? l.toUpperCase() : l));

  it('picks a pool only if it holds every job label and no higher-ranked pool also does', () => {
    const seed = 20261123;
    const next = random(seed);
    const holds = (p: PoolConfig, labels: string[]) =>
      labels.every((l) => p.labels.map((x) => x.toLowerCase()).includes(l.toLowerCase()));
    const seen = new Set<string>();
    // 25 configs of 4 pools, 20 jobs each: 500 label sets against varied priorities and overlaps.
    for (let round = 0; round < 25; round++) {
      const pools = Array.from({ length: 4 }, (_, i) => {
        const labels = pick(next, 2.5);
        return pool(`p${i}`, labels.length > 0 ? labels : ['self-hosted'], {
          priority: Math.floor(next() * 2),
        });
      });
      const router = createRouter(pools);
      for (let i = 0; i < 20; i++) {
        const labels = pick(next, 1.5);
        const route = router.route(job(labels));
        const at = `seed ${seed}, round ${round}, job ${i}: ${labels.join(',')}`;
        const matching = labels.length === 0 ? [] : pools.filter((p) => holds(p, labels));
        seen.add(matching.length > 1 ? 'contested' : route.kind);
        if (new Set(matching.map((p) => p.priority)).size < matching.length) seen.add('tie');
        if (route.kind !== 'pool') {
          expect(matching, at).toEqual([]);
          continue;
        }
        const index = pools.indexOf(route.pool);
        expect(holds(route.pool, labels), at).toBe(true);
        const outranks = (p: PoolConfig, j: number) =>
          p.priority > route.pool.priority || (p.priority === route.pool.priority && j < index);
        expect(
          pools.filter((p, j) => holds(p, labels) && outranks(p, j)),
          at,
        ).toEqual([]);
      }
    }
    // Every case must occur, or the loop above proved less than it claims.
    expect([...seen].sort()).toEqual(['contested', 'pool', 'tie', 'unmatched']);
  });
});
