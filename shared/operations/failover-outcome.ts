import type { ApplianceConfig, OperationsConfig } from '../config/operations-config.ts';
import { describeCaught, type FailoverState } from './failover-state.ts';
import type { Outcome, ProgressRecord, StepId } from './progress-record.ts';

/**
 * How a failover ended and what a person must do next, decided from the execution's state and its
 * progress record. The line that matters is promote: before it succeeded nothing irreversible
 * happened (DNS untouched, maintenance undone), after it the replica is primary and whatever is left
 * (DNS, verification, the topology record) is for an operator to finish, with the exact commands.
 */
export const decideOutcome = (
  state: FailoverState,
  record: ProgressRecord,
  operations: OperationsConfig,
): Outcome => {
  const find = (name: string | undefined) => operations.appliances.find((a) => a.name === name);
  const primary = find(state.preflight?.primary ?? record.from ?? undefined);
  const replica = find(state.preflight?.replica ?? record.to ?? undefined);
  const { dns } = operations;
  const error = describeCaught(state.error);
  const status = (id: StepId) => record.steps[id]?.status;
  const route = primary && replica ? `${primary.name} → ${replica.name}` : 'the failover';

  if (state.run?.dryRun && !state.error)
    return {
      kind: 'dry-run',
      summary: state.preflight?.ok
        ? `Dry run: ${route} would proceed. Nothing was changed.`
        : `Dry run: ${route} would be refused (${state.preflight?.reason ?? 'preflight did not finish'}). Nothing was changed.`,
      nextSteps: [],
    };

  const switchDns = (to: ApplianceConfig | undefined) =>
    to
      ? `Point ${dns.recordName} (${dns.type}, zone ${dns.hostedZoneId}) at ${to.dnsValue} with TTL ${dns.ttl}: ` +
        `\`aws route53 change-resource-record-sets --hosted-zone-id ${dns.hostedZoneId} --change-batch ` +
        `'{"Changes":[{"Action":"UPSERT","ResourceRecordSet":{"Name":"${dns.recordName}","Type":"${dns.type}","TTL":${dns.ttl},"ResourceRecords":[{"Value":"${to.dnsValue}"}]}}]}'\``
      : `Point ${dns.recordName} at the new primary.`;

  if (status('promote') === 'succeeded') {
    const promoted = `${replica?.name ?? 'The replica'} is promoted and is now the primary`;
    if (status('dns') !== 'succeeded')
      return {
        kind: 'needs-operator',
        summary: `${promoted}, but DNS still points at ${primary?.name ?? 'the old primary'}${error ? ` (${error})` : ''}.`,
        nextSteps: [
          switchDns(replica),
          `Check ${replica?.statusUrl ?? 'the new primary'} answers 200.`,
          `Do not take ${primary?.name ?? 'the old primary'} out of maintenance mode: it is no longer the primary.`,
          `Record the new roles: run \`/ghes failover\` again only after \`/ghes status\` shows them right.`,
        ],
      };
    if (status('verify') !== 'succeeded')
      return {
        kind: 'needs-operator',
        summary: `${promoted} and DNS points at it, but its /status did not answer 200${error ? ` (${error})` : ''}.`,
        nextSteps: [
          `On ${replica?.name ?? 'the new primary'} run \`ghe-repl-status\` and \`ghe-config-apply\` if a run was interrupted; check ${replica?.statusUrl ?? '/status'}.`,
          `Do not point DNS back at ${primary?.name ?? 'the old primary'}: it was demoted and holds older data.`,
        ],
      };
    if (status('topology') !== 'succeeded')
      return {
        kind: 'needs-operator',
        summary: `${promoted}, DNS points at it and it answers 200, but the new roles were not recorded${error ? ` (${error})` : ''}.`,
        nextSteps: [
          `Until the record is fixed the control plane still thinks ${primary?.name ?? 'the old primary'} is primary: do not start another failover.`,
          `Write the operations table row \`topology#ghes\` with primary ${replica?.name} and replica ${primary?.name}.`,
        ],
      };
    return {
      kind: 'succeeded',
      summary: `Failed over: ${replica?.name} is primary and ${dns.recordName} points at ${replica?.dnsValue}.`,
      nextSteps: [
        `Set up ${primary?.name} as the new replica (\`ghe-repl-setup ${replica?.dnsValue}\` then \`ghe-repl-start\` on it) when it is healthy.`,
      ],
    };
  }

  if (status('promote') === 'running' || state.stop?.reason === 'promote-timeout')
    return {
      kind: 'needs-operator',
      summary:
        `Promote of ${replica?.name ?? 'the replica'} did not report a result` +
        `${state.stop?.reason === 'promote-timeout' ? ` within ${operations.failover.promoteTimeoutMinutes} min` : ''}` +
        `${error ? ` (${error})` : ''}. DNS was not changed; ${primary?.name ?? 'the primary'} was left as it was.`,
      nextSteps: [
        `Find the promote command${state.promote ? ` \`${state.promote.commandId}\`` : ''} in Systems Manager › Run Command and read its output.`,
        `On ${replica?.name ?? 'the replica'} run \`ghe-repl-status\`: if it reports it is no longer a replica the promote finished: ${switchDns(replica)}`,
        `If it is still a replica, take ${primary?.name ?? 'the primary'} out of maintenance mode (\`ghe-maintenance -u\`) if it was put there, and try again.`,
      ],
    };

  // Before promote: nothing irreversible happened. Was maintenance left on?
  if (state.undoError)
    return {
      kind: 'needs-operator',
      summary: `Stopped before promote (${reasonOf(state, error)}); DNS was not changed, but ${primary?.name ?? 'the primary'} is still in maintenance mode: ${describeCaught(state.undoError)}.`,
      nextSteps: [`On ${primary?.name ?? 'the primary'} run \`ghe-maintenance -u\` to let users back in.`],
    };

  const aborted = ['preflight-refused', 'approval-aborted', 'approval-timeout', 'replication-not-in-sync'];
  const undone = state.undo?.undone ? ` ${primary?.name} was taken out of maintenance mode again.` : '';
  return {
    kind: state.stop && aborted.includes(state.stop.reason) ? 'aborted' : 'failed',
    summary: `Not failed over: ${reasonOf(state, error)}. DNS and roles are unchanged.${undone}`,
    nextSteps:
      state.stop?.reason === 'replication-not-in-sync'
        ? [`Check \`ghe-repl-status -vv\` on ${replica?.name}; fail over once every service is OK.`]
        : state.stop?.reason === 'promote-failed'
          ? [
              `Read the promote output above; \`ghe-repl-status\` on ${replica?.name} should still show a replica.`,
            ]
          : [],
  };
};

const reasonOf = (state: FailoverState, error: string): string => {
  switch (state.stop?.reason) {
    case 'preflight-refused':
      return `preflight refused: ${state.preflight?.reason ?? ''}`;
    case 'approval-aborted':
      return `aborted by <@${state.approval?.by ?? '?'}>`;
    case 'approval-timeout': {
      const seconds = state.run?.approvalTimeoutSeconds ?? 0;
      return `nobody approved within ${seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`}`;
    }
    case 'replication-not-in-sync':
      return 'replication was not in sync in time';
    case 'promote-failed':
      return 'ghe-repl-promote failed';
    default:
      return error ? `error: ${error}` : 'an unknown error';
  }
};
