import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// AWS offers no resource-level permission for these read-only calls (Service Authorization Reference).
const describeOnly = new Set(['ec2:DescribeInstances']);

/** `osls package` builds the CloudFormation template offline; its IAM must stay least-privilege. */
describe('serverless package', () => {
  const template = () => {
    execFileSync('npx', ['osls', 'package'], {
      stdio: 'pipe',
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' },
    });
    return JSON.parse(readFileSync('.serverless/cloudformation-template-update-stack.json', 'utf8'));
  };

  it(
    'packages every function with its own role whose statements name their resources',
    { timeout: 60_000 },
    () => {
      const resources = template().Resources as Record<string, { Type: string; Properties: any }>;
      const functions = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
      expect(functions.length).toBeGreaterThan(0);
      for (const [name, fn] of functions) {
        expect(fn.Properties.Runtime, name).toBe('nodejs22.x');
        const roleName = fn.Properties.Role['Fn::GetAtt']?.[0];
        expect(roleName, `${name} must use its own role`).toBeTruthy();
        for (const policy of resources[roleName]!.Properties.Policies) {
          for (const statement of policy.PolicyDocument.Statement) {
            const actions = [statement.Action].flat();
            const label = `${roleName}: ${JSON.stringify(actions)}`;
            if (actions.every((action) => describeOnly.has(action))) {
              // Describe calls cannot be scoped to resources; they must at least be held to a region.
              expect(statement.Condition, label).toBeTruthy();
              continue;
            }
            expect([statement.Resource].flat(), label).not.toContain('*');
          }
        }
      }
      // Stand-alone policies (the cross-account one) follow the same rule.
      const policies = Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy');
      for (const policy of policies) {
        for (const statement of policy.Properties.PolicyDocument.Statement) {
          expect([statement.Resource].flat()).not.toContain('*');
        }
      }
      // The example config has a cross-account pool: the dispatcher may assume exactly its role.
      expect(
        policies
          .flatMap((p) => p.Properties.PolicyDocument.Statement)
          .filter((st: any) => st.Action === 'sts:AssumeRole'),
      ).toEqual([
        expect.objectContaining({ Resource: ['arn:aws:iam::444455556666:role/ghes-cp-runner-capacity'] }),
      ]);
    },
  );
});
