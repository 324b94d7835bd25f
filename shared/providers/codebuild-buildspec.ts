import { parse, stringify } from 'yaml';
import { MisconfiguredPoolError } from './runner-provider.ts';

/**
 * `buildspec-override:true` (AWS's runner label): the project's own `install`, `pre_build` and
 * `post_build` phases run around the runner, whose `build` phase replaces the project's, as CodeBuild's
 * hosted runners do (https://docs.aws.amazon.com/codebuild/latest/userguide/sample-github-action-runners-update-labels.html).
 * The project's `env` is kept (variables, parameter-store, secrets-manager), except the shell: the
 * runner phase is bash. Nothing else of the project's buildspec applies to a runner build.
 */
type Buildspec = { version?: unknown; env?: Record<string, unknown>; phases?: Record<string, unknown> };

export const withProjectPhases = (runner: string, project: string, projectName: string): string => {
  const own = parseBuildspec(project, projectName);
  const ours = parse(runner) as Buildspec;
  const projectPhase = (name: 'install' | 'pre_build' | 'post_build') =>
    own.phases?.[name] === undefined ? {} : { [name]: own.phases[name] };
  // In CodeBuild's order: install, pre_build, build, post_build.
  const phases = {
    ...projectPhase('install'),
    ...projectPhase('pre_build'),
    build: ours.phases!.build,
    ...projectPhase('post_build'),
  };
  return stringify({
    version: 0.2,
    env: { ...(own.env ?? {}), ...(ours.env ?? {}) },
    phases,
  });
};

const parseBuildspec = (text: string, projectName: string): Buildspec => {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new MisconfiguredPoolError(
      `CodeBuild project ${projectName}: its buildspec is not valid YAML (${(error as Error).message})`,
    );
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new MisconfiguredPoolError(`CodeBuild project ${projectName}: its buildspec is not a mapping`);
  }
  const buildspec = document as Buildspec;
  if (buildspec.env !== undefined && (typeof buildspec.env !== 'object' || buildspec.env === null)) {
    throw new MisconfiguredPoolError(
      `CodeBuild project ${projectName}: its buildspec's env is not a mapping`,
    );
  }
  return buildspec;
};
