import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** A CloudFormation resource as packaged; properties are read by the tests that know their shape. */
export interface PackagedResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

export interface PackagedTemplate {
  readonly Resources: Record<string, PackagedResource>;
}

/**
 * `osls package --stage <stage>` offline (no AWS credentials; ~5 s here), in a scratch copy of the
 * service: the sources are linked, so what is packaged is this tree, but `.serverless/` and
 * serverless-esbuild's work folder are the copy's own and another packaging test running at the
 * same time cannot overwrite them. serverless.yml itself is copied: osls refuses a linked one.
 */
export const packageForStage = (stage: string): PackagedTemplate => packageWithConfig(stage);

/**
 * As packageForStage, with the deployment config given as YAML text (written into the scratch copy
 * and named by GHES_CP_CONFIG, as an operator's own config would be); none: the example config.
 */
export const packageWithConfig = (stage: string, configYaml?: string): PackagedTemplate => {
  const service = mkdtempSync(join(tmpdir(), `ghes-cp-package-${stage}-`));
  try {
    copyFileSync('serverless.yml', join(service, 'serverless.yml'));
    for (const entry of [
      'package.json',
      'tsconfig.json',
      'node_modules',
      ...(configYaml === undefined ? ['config'] : []),
      'infra',
      'functions',
      'shared',
      'state-machines',
    ])
      symlinkSync(resolve(entry), join(service, entry));
    const config = configYaml === undefined ? {} : { GHES_CP_CONFIG: join(service, 'deploy.yaml') };
    if (configYaml !== undefined) writeFileSync(config.GHES_CP_CONFIG!, configYaml);
    execFileSync('npx', ['osls', 'package', '--stage', stage], {
      cwd: service,
      stdio: 'pipe',
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', ...config },
    });
    return JSON.parse(
      readFileSync(join(service, '.serverless', 'cloudformation-template-update-stack.json'), 'utf8'),
    ) as PackagedTemplate;
  } finally {
    rmSync(service, { recursive: true, force: true });
  }
};

/** cfn-lint is a Python tool, not an npm package: tests that need it skip where it is not installed. */
export const hasCfnLint = spawnSync('cfn-lint', ['--version']).status === 0;

/**
 * The serverless framework's own warning: W3005, a DependsOn it writes although a Ref/GetAtt already
 * orders the resources. Every other warning is one of ours.
 */
const frameworkWarning = /:W3005:/;

export interface LintResult {
  readonly errors: string[];
  /** Warnings about what we wrote (everything but the framework's own). */
  readonly ownWarnings: string[];
}

/** cfn-lint over a template (an object, or the path of a YAML/JSON file), parseable output. */
export const cfnLint = (template: PackagedTemplate | string): LintResult => {
  let file = template as string;
  if (typeof template !== 'string') {
    file = join(mkdtempSync(join(tmpdir(), 'ghes-cp-lint-')), 'template.json');
    writeFileSync(file, JSON.stringify(template));
  }
  const run = spawnSync('cfn-lint', ['--format', 'parseable', file], { encoding: 'utf8' });
  const lines = `${run.stdout}${run.stderr}`.split('\n').filter(Boolean);
  // 0: clean; 2: errors; 4: warnings; 8: informational; a sum of those, or something else on failure.
  if (run.status === null || run.status > 14) throw new Error(`cfn-lint did not run: ${lines.join('\n')}`);
  return {
    errors: lines.filter((line) => /:E\d{4}:/.test(line)),
    ownWarnings: lines.filter((line) => /:W\d{4}:/.test(line) && !frameworkWarning.test(line)),
  };
};
