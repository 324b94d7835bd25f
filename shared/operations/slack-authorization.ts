import type { OperationsConfig } from '../config/operations-config.ts';

/**
 * Who may ask for and approve GHES operations: a Slack user ID in `operations.slack.userIds`, asking
 * from a channel ID in `operations.slack.channelIds`. IDs only: a display name can be changed by its
 * owner, an ID cannot. The user is checked first, so someone with no rights learns nothing about
 * which channels are allowed.
 */
export type Refusal = { readonly code: 'user' | 'channel'; readonly reason: string };

export const authorize = (
  slack: OperationsConfig['slack'],
  userId: string,
  channelId: string | undefined,
): Refusal | null => {
  if (!slack.userIds.includes(userId))
    return {
      code: 'user',
      reason: `you are not authorized to run GHES operations (Slack user ${userId} is not in operations.slack.userIds)`,
    };
  if (!channelId || !slack.channelIds.includes(channelId))
    return {
      code: 'channel',
      reason: `GHES operations are run only from ${slack.channelIds.map((id) => `<#${id}>`).join(', ')}; this channel (${channelId ?? 'unknown'}) is not in operations.slack.channelIds`,
    };
  return null;
};
