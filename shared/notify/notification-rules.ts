import picomatch from 'picomatch';
import type { NotificationRuleConfig } from '../config/deployment-config.ts';
import type { RoutableJob, Router } from '../routing/route-job.ts';

export interface NotificationRules {
  /** The rules that select this job: its run matches, and (where a rule names pools) its pool does. */
  match(job: RoutableJob): readonly NotificationRuleConfig[];
  byName(name: string): NotificationRuleConfig | undefined;
}

/*
 * The same glob semantics as the pools' filters (shared/routing/route-job.ts): slash-separated
 * whatever the host OS, dot-names match, repositories case-insensitive and branches not.
 */
const globs = (patterns: readonly string[] | undefined, nocase: boolean) =>
  patterns === undefined ? undefined : picomatch([...patterns], { dot: true, nocase, windows: false });

/**
 * Compiles the `notifications:` rules once per container. Regexes were checked when the config was
 * loaded (crossCheckNotifications), so compiling cannot throw here. A job matches every rule that
 * selects it: two rules may send one run to two channels.
 */
export const createNotificationRules = (
  rules: readonly NotificationRuleConfig[],
  router: Pick<Router, 'route'>,
): NotificationRules => {
  const compiled = rules.map((rule) => ({
    rule,
    workflow: new RegExp(rule.workflow),
    repositories: globs(rule.repositories, true),
    branches: globs(rule.branches, false),
    pools: rule.pools ? new Set(rule.pools) : undefined,
  }));
  const byName = new Map(rules.map((rule) => [rule.name, rule]));
  return {
    match(job) {
      if (job.workflowName === null) return [];
      let pool: string | null | undefined;
      const poolOf = () => {
        if (pool === undefined) {
          const route = router.route(job);
          pool = route.kind === 'pool' ? route.pool.name : null;
        }
        return pool;
      };
      return compiled
        .filter(
          (c) =>
            c.workflow.test(job.workflowName!) &&
            (!c.repositories || c.repositories(job.repository)) &&
            (!c.branches || (job.headBranch !== null && c.branches(job.headBranch))) &&
            (!c.pools || c.pools.has(poolOf() ?? '')),
        )
        .map((c) => c.rule);
    },
    byName: (name) => byName.get(name),
  };
};
