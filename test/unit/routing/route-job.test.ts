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
  const scheme = (
    name: string,
    project: string,
    labelScheme: NonNullable<PoolConfig['codebuild']>['labelScheme'],
    extra: Partial<PoolConfig> = {},
  ) => pool(name, ['self-hosted', 'linux'], { codebuild: { project, labelScheme }, ...extra });
  const everything = {
    buildspecOverride: true,
    instanceSizes: ['small' as const, 'large' as const],
    images: {
      'linux-5.0': { image: 'aws/codebuild/amazonlinux-x86_64-standard:5.0' },
      'arm-3.0': {
        image: 'aws/codebuild/amazonlinux-aarch64-standard:3.0',
        environmentType: 'ARM_CONTAINER',
      },
    },
    fleets: { big: 'arn:aws:codebuild:eu-west-1:111122223333:fleet/big:1' },
  };
  const router = createRouter([
    scheme('runners', 'runners', everything),
    // The production deploy project: a pool names it, but does not enable the scheme.
    pool('prd', ['self-hosted', 'deploy'], { codebuild: { project: 'runners-prd' }, runnerGroupId: 2 }),
    scheme('guarded', 'guarded', {}, { repositories: ['acme/*'], branches: ['main'] }),
  ]);

  it('routes codebuild-<project>-<run_id>-<run_attempt> of this run through the pool that enables the project', () => {
    expect(router.route(job(['codebuild-runners-4242-1']))).toStrictEqual({
      kind: 'pool',
      pool: router.pool('runners'),
      overrides: {},
    });
  });

  it('refuses a project that no pool enables the scheme for, even one a pool names', () => {
    // The reproduction of the bypass: a workflow names the production project and its own image.
    const route = router.route(
      job(['codebuild-runners-prd-4242-1', 'image:attacker.example/evil:latest', 'instance-size:2xlarge'], {
        repository: 'acme/untrusted',
        headBranch: 'feature/pwn',
        workflowName: 'pr-check',
      }),
    );
    expect(reason(route)).toBe(
      'label codebuild-runners-prd-…: no pool enables the label scheme for CodeBuild project runners-prd',
    );
  });

  it("keeps the pool's repository and branch filters for scheme jobs", () => {
    expect(poolName(router.route(job(['codebuild-guarded-4242-1'])))).toBe('guarded');
    expect(reason(router.route(job(['codebuild-guarded-4242-1'], { headBranch: 'feature/pwn' })))).toBe(
      'label scheme for guarded: pool guarded: branch "feature/pwn" matches none of [main]',
    );
    expect(reason(router.route(job(['codebuild-guarded-4242-1'], { repository: 'evil/app' })))).toMatch(
      /^label scheme for guarded: pool guarded: repository "evil\/app" matches none of \[acme\/\*\]/,
    );
  });

  it.each([
    ['image:linux-5.0', { image: 'aws/codebuild/amazonlinux-x86_64-standard:5.0' }],
    [
      'image:arm-3.0',
      { image: 'aws/codebuild/amazonlinux-aarch64-standard:3.0', environmentType: 'ARM_CONTAINER' },
    ],
    ['instance-size:LARGE', { computeType: 'BUILD_GENERAL1_LARGE' }],
    ['fleet:big', { fleetArn: 'arn:aws:codebuild:eu-west-1:111122223333:fleet/big:1' }],
    ['buildspec-override:true', { projectBuildspec: true }],
    ['buildspec-override:false', {}],
  ])('honours %s where the pool allows it', (label, overrides) => {
    expect(router.route(job(['codebuild-runners-4242-1', label]))).toMatchObject({ kind: 'pool', overrides });
  });

  it.each([
    [
      'image:attacker.example/evil:latest',
      'image:attacker.example/evil:latest is not allowed (allowed images: [linux-5.0, arm-3.0])',
    ],
    ['instance-size:2xlarge', 'instance-size:2xlarge is not allowed (allowed sizes: [small, large])'],
    ['fleet:other', 'fleet:other is not allowed (allowed fleets: [big])'],
    ['buildspec-override:yes', 'buildspec-override:yes is not allowed (expected true or false)'],
  ])('refuses %s, which is not on the allow-list', (label, why) => {
    expect(reason(router.route(job(['codebuild-runners-4242-1', label])))).toBe(
      `label scheme for runners: pool runners: ${why}`,
    );
  });

  it('refuses every modifier on a pool that allows none, and conflicting values', () => {
    expect(reason(router.route(job(['codebuild-guarded-4242-1', 'buildspec-override:true'])))).toMatch(
      /buildspec-override:true is not allowed \(codebuild.labelScheme.buildspecOverride is not set\)$/,
    );
    expect(reason(router.route(job(['codebuild-guarded-4242-1', 'image:linux-5.0'])))).toMatch(
      /allowed images: \[\]\)$/,
    );
    expect(
      reason(router.route(job(['codebuild-runners-4242-1', 'instance-size:small', 'instance-size:large']))),
    ).toMatch(/labels ask for instance-size:small and instance-size:large$/);
  });

  it('tries the next pool that enables the same project when the first one filters the job out', () => {
    const two = createRouter([
      scheme('main-only', 'shared', {}, { branches: ['main'], priority: 5 }),
      scheme('any-branch', 'shared', {}),
    ]);
    expect(poolName(two.route(job(['codebuild-shared-4242-1'])))).toBe('main-only');
    expect(poolName(two.route(job(['codebuild-shared-4242-1'], { headBranch: 'dev' })))).toBe('any-branch');
  });

  it.each([
    ['codebuild-my-big-project-4242-1', 'my-big-project'],
    ['codebuild-Build_2-7-4242-1', 'Build_2-7'],
  ])('takes the ids from the end of %s', (label, project) => {
    const named = createRouter([scheme('p', project, {})]);
    expect(poolName(named.route(job([label])))).toBe('p');
  });

  it.each(['codebuild-runners-4243-1', 'codebuild-runners-4242-2', 'codebuild-runners-04242-1'])(
    'treats %s, which names another run, as an ordinary label',
    (label) => {
      expect(reason(router.route(job([label])))).toBe(`labels [${label}] matched no pool`);
    },
  );

  it('keeps plain extra labels for the runner, as AWS suggests for telling jobs of one run apart', () => {
    expect(poolName(router.route(job(['codebuild-runners-4242-1', 'job1'])))).toBe('runners');
  });

  it('treats modifier labels without a codebuild label of this run as ordinary labels', () => {
    const plain = createRouter([pool('linux', ['self-hosted', 'image:x'])]);
    expect(poolName(plain.route(job(['image:x', 'self-hosted'])))).toBe('linux');
    expect(plain.route(job(['instance-size:small'])).kind).toBe('unmatched');
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
