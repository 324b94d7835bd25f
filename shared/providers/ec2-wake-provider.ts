import { DescribeInstancesCommand, StartInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { EC2_CAPACITY_SHORTAGES } from '../aws/clients.ts';
import type { Leases } from '../dispatch/leases.ts';
import type { CredentialsStore } from './runner-credentials-store.ts';
import { bootConfigOf, NoCapacityError, type Ec2WakeTarget, type RunnerProvider } from './runner-provider.ts';

/**
 * Wakes a stopped, tagged instance for the job. Each candidate is claimed with a conditional lease
 * before StartInstances, so two jobs never wake the same instance. A candidate that cannot start
 * for capacity reasons is released and the next one tried, preferring another AZ and instance type
 * (capacity shortages hit one type in one AZ at a time).
 */
const tryNextCandidate = new Set([
  ...EC2_CAPACITY_SHORTAGES,
  'IncorrectInstanceState',
  'InstanceLimitExceeded',
  'Unsupported',
]);

/**
 * Names the dispatcher's parameter prefix on each runner instance. The user data reads its
 * credentials under it (infra/ec2-runner-user-data.yaml); the dispatcher wakes only instances whose
 * tag matches its own prefix, so it never wakes one that would look elsewhere (and powers off), nor
 * another stage's instance of a pool with the same name.
 */
export const PARAMETER_PREFIX_TAG = 'ghes-cp:parameter-prefix';

interface Candidate {
  readonly instanceId: string;
  readonly placement: string;
}

export const createEc2WakeProvider = (options: {
  ec2: EC2Client;
  credentials: CredentialsStore;
  leases: Leases;
  parameterPrefix: string;
  /** The instance's ARN: only that instance may read the credentials written for it. */
  instanceArn: (instanceId: string) => string;
  /** How long an instance stays leased to its job when nothing releases it. @default 6 h */
  leaseSeconds?: number;
  now?: () => number;
}): RunnerProvider<Ec2WakeTarget> => {
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const leaseSeconds = options.leaseSeconds ?? 6 * 3600;
  const parameterFor = (instanceId: string) => `${options.parameterPrefix}/instances/${instanceId}`;

  const stoppedCandidates = async (target: Ec2WakeTarget): Promise<Candidate[]> => {
    const candidates: Candidate[] = [];
    let NextToken: string | undefined;
    do {
      const page = await options.ec2.send(
        new DescribeInstancesCommand({
          Filters: [
            { Name: `tag:${target.tagKey}`, Values: [target.tagValue] },
            { Name: `tag:${PARAMETER_PREFIX_TAG}`, Values: [options.parameterPrefix] },
            { Name: 'instance-state-name', Values: ['stopped'] },
          ],
          ...(NextToken ? { NextToken } : {}),
        }),
      );
      for (const reservation of page.Reservations ?? []) {
        for (const instance of reservation.Instances ?? []) {
          candidates.push({
            instanceId: instance.InstanceId!,
            placement: `${instance.Placement?.AvailabilityZone}/${instance.InstanceType}`,
          });
        }
      }
      NextToken = page.NextToken;
    } while (NextToken);
    // Spread jobs over the fleet instead of always waking the first instance listed.
    return candidates.sort(() => Math.random() - 0.5);
  };

  const wake = async (instanceId: string, credentials: Parameters<CredentialsStore['put']>[1]) => {
    await options.credentials.put(parameterFor(instanceId), credentials, {
      readableBy: options.instanceArn(instanceId),
    });
    await options.ec2.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
  };

  return {
    async launch(request, target) {
      const failures: string[] = [];
      const failedPlacements = new Set<string>();
      /** Wakes an instance the job holds; on failure gives it back and rethrows unless others may start. */
      const tryWake = async (instanceId: string, placement: string): Promise<boolean> => {
        try {
          await wake(instanceId, bootConfigOf(request));
          return true;
        } catch (error) {
          await options.leases.releaseInstance(instanceId, request.jobKey);
          // The parameter is left behind: readable only by this instance, which did not start, and
          // overwritten by its next wake. Deleting it here held the job up for the SDK's whole
          // throttling backoff (5–7 s a candidate: 6 candidates outlast the 30 s timeout), and a
          // delete landing after another job's wake of this instance would take that job's credentials.
          const code = (error as Error).name;
          if (!tryNextCandidate.has(code)) throw error;
          failures.push(`${instanceId} (${placement}): ${code}`);
          // Capacity runs out per AZ and instance type; a wrong state says nothing about the others.
          if (code !== 'IncorrectInstanceState') failedPlacements.add(placement);
          return false;
        }
      };
      // A retried dispatch (the first attempt died after claiming) gets its own instance back; if
      // that one cannot start now, it is given back and the job moves on like a fresh one.
      const held = await options.leases.instanceOf(request.jobKey);
      if (held && (await tryWake(held, 'held'))) return { resourceId: held };
      const launched = (resourceId: string) =>
        failures.length ? { resourceId, passedOver: [...failures] } : { resourceId };
      const candidates = (await stoppedCandidates(target)).filter((c) => c.instanceId !== held);
      const stopped = candidates.length;
      let leasedToOthers = 0;
      while (candidates.length > 0) {
        const index = candidates.findIndex((c) => !failedPlacements.has(c.placement));
        const [candidate] = candidates.splice(index === -1 ? 0 : index, 1) as [Candidate];
        const at = now();
        if (
          !(await options.leases.claimInstance(candidate.instanceId, request.jobKey, at, at + leaseSeconds))
        ) {
          leasedToOthers += 1;
          continue;
        }
        if (await tryWake(candidate.instanceId, candidate.placement)) {
          return launched(candidate.instanceId);
        }
      }
      const tags = `${target.tagKey}=${target.tagValue} and ${PARAMETER_PREFIX_TAG}=${options.parameterPrefix}`;
      const why = [
        ...(failures.length ? [`no stopped instance could start: ${failures.slice(0, 5).join('; ')}`] : []),
        ...(leasedToOthers
          ? [`${leasedToOthers} of ${stopped} stopped instances are being woken for other jobs`]
          : []),
      ];
      throw new NoCapacityError(why.length ? why.join('; ') : `no stopped instance tagged ${tags}`);
    },
    async isAlive(instanceId) {
      try {
        const out = await options.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
        const state = out.Reservations?.[0]?.Instances?.[0]?.State?.Name;
        return state === 'pending' || state === 'running';
      } catch (error) {
        if ((error as Error).name === 'InvalidInstanceID.NotFound') return false;
        throw error;
      }
    },
  };
};
