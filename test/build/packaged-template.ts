import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
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
export const packageForStage = (stage: string): PackagedTemplate => {
  const service = mkdtempSync(join(tmpdir(), `ghes-cp-package-${stage}-`));
  try {
    copyFileSync('serverless.yml', join(service, 'serverless.yml'));
    for (const entry of [
      'package.json',
      'tsconfig.json',
      'node_modules',
      'config',
      'infra',
      'functions',
      'shared',
      'state-machines',
    ])
      symlinkSync(resolve(entry), join(service, entry));
    execFileSync('npx', ['osls', 'package', '--stage', stage], {
      cwd: service,
      stdio: 'pipe',
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' },
    });
    return JSON.parse(
      readFileSync(join(service, '.serverless', 'cloudformation-template-update-stack.json'), 'utf8'),
    ) as PackagedTemplate;
  } finally {
    rmSync(service, { recursive: true, force: true });
  }
};
