import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArtifactsError, rewriteForBucket, writeArtifacts } from '../../scripts/cfn-artifacts.ts';

/** A package directory shaped like `osls package`'s: two functions whose code is in the deployment bucket. */
const fakePackage = () => {
  const dir = mkdtempSync(join(tmpdir(), 'ghes-cp-cfn-artifacts-'));
  const key = (name: string) => `serverless/ghes-control-plane/qa/1-2026-11-30T00:00:00.000Z/${name}.zip`;
  const fn = (name: string) => ({
    Type: 'AWS::Lambda::Function',
    Properties: { Code: { S3Bucket: { Ref: 'ServerlessDeploymentBucket' }, S3Key: key(name) } },
  });
  const template = {
    Resources: {
      ServerlessDeploymentBucket: { Type: 'AWS::S3::Bucket' },
      ServerlessDeploymentBucketPolicy: {
        Type: 'AWS::S3::BucketPolicy',
        Properties: { Bucket: { Ref: 'ServerlessDeploymentBucket' } },
      },
      WebhookLambdaFunction: fn('github-webhook'),
      DispatcherLambdaFunction: fn('runner-dispatcher'),
      AlertsTopic: { Type: 'AWS::SNS::Topic' },
    },
    Outputs: {
      ServerlessDeploymentBucketName: { Value: { Ref: 'ServerlessDeploymentBucket' } },
      AlertsTopicArn: { Value: { Ref: 'AlertsTopic' } },
    },
  };
  writeFileSync(join(dir, 'cloudformation-template-update-stack.json'), JSON.stringify(template));
  writeFileSync(join(dir, 'github-webhook.zip'), 'webhook zip');
  writeFileSync(join(dir, 'runner-dispatcher.zip'), 'dispatcher zip');
  return { dir, template, key };
};

describe('scripts/cfn-artifacts.ts (deploying without osls)', () => {
  it('points every function at the named bucket and lays the zips out under the keys the template names', () => {
    const { dir, key } = fakePackage();
    const out = join(dir, 'out');
    writeArtifacts({ packageDir: dir, bucket: 'bank-artefacts', prefix: '/ghes-cp/', out });
    const template = JSON.parse(readFileSync(join(out, 'template.json'), 'utf8'));
    const code = template.Resources.WebhookLambdaFunction.Properties.Code;
    expect(code).toEqual({ S3Bucket: 'bank-artefacts', S3Key: `ghes-cp/${key('github-webhook')}` });
    expect(readFileSync(join(out, 'artifacts', code.S3Key), 'utf8')).toBe('webhook zip');
    const dispatcher = template.Resources.DispatcherLambdaFunction.Properties.Code.S3Key;
    expect(readFileSync(join(out, 'artifacts', dispatcher), 'utf8')).toBe('dispatcher zip');
  });

  it('drops the bucket the template would create, its policy and its output, and keeps the rest', () => {
    const { dir, template } = fakePackage();
    const { template: rewritten } = rewriteForBucket(template, dir, 'bank-artefacts');
    expect(Object.keys(rewritten.Resources)).toEqual([
      'WebhookLambdaFunction',
      'DispatcherLambdaFunction',
      'AlertsTopic',
    ]);
    expect(Object.keys(rewritten.Outputs!)).toEqual(['AlertsTopicArn']);
    expect(JSON.stringify(rewritten)).not.toContain('ServerlessDeploymentBucket');
    // The packaged template itself is left as it was.
    expect(template.Resources.ServerlessDeploymentBucket).toBeDefined();
  });

  it('clears zips of an earlier run from the output folder', () => {
    const { dir } = fakePackage();
    const out = join(dir, 'out');
    const stale = join(out, 'artifacts', 'old.zip');
    writeArtifacts({ packageDir: dir, bucket: 'bank-artefacts', out });
    writeFileSync(stale, 'old');
    writeArtifacts({ packageDir: dir, bucket: 'bank-artefacts', out });
    expect(existsSync(stale)).toBe(false);
  });

  it('refuses a bad bucket name, a missing zip and a missing package, saying which', () => {
    const { dir, template } = fakePackage();
    expect(() => rewriteForBucket(template, dir, 'Bank_Artefacts')).toThrow(
      new ArtifactsError('--bucket: "Bank_Artefacts" is not an S3 bucket name'),
    );
    expect(() => rewriteForBucket(template, join(dir, 'nowhere'), 'bank-artefacts')).toThrow(
      /WebhookLambdaFunction: .*github-webhook\.zip is missing; run npm run package first/,
    );
    expect(() => writeArtifacts({ packageDir: join(dir, 'nowhere'), bucket: 'b-1', out: dir })).toThrow(
      /cloudformation-template-update-stack\.json is missing; run npm run package first/,
    );
  });
});
