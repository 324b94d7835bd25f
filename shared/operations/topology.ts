import { isConditionFailure, type JsonCall } from '../aws/json-client.ts';
import type { ApplianceConfig } from '../config/operations-config.ts';

/**
 * Which appliance is primary now. The config's `initialRole` is true only until the first failover;
 * afterwards the `topology#ghes` row in the operations table says, so the next failover goes the other
 * way without anyone editing the config.
 */
export interface Topology {
  readonly primary: string;
  readonly replica: string;
  /** Null while the config's initial roles still hold. */
  readonly updatedAt: string | null;
  readonly changedBy: string | null;
}

export class TopologyChangedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TopologyChangedError';
  }
}

export interface TopologyStore {
  current(): Promise<Topology>;
  /**
   * Records a swap. Refused with `TopologyChangedError` when the row no longer names `expectedPrimary`
   * (another run recorded something in between), so a stale writer cannot undo a newer truth.
   */
  record(next: {
    readonly primary: string;
    readonly replica: string;
    readonly expectedPrimary: string;
    readonly changedBy: string;
    readonly now: Date;
  }): Promise<Topology>;
}

export const initialTopology = (appliances: readonly ApplianceConfig[]): Topology => {
  const primary = appliances.find((a) => a.initialRole === 'primary');
  const replica = appliances.find((a) => a.initialRole === 'replica');
  if (!primary || !replica) throw new Error('operations.appliances: expected one primary and one replica');
  return { primary: primary.name, replica: replica.name, updatedAt: null, changedBy: null };
};

export const createDynamoTopology = (
  dynamo: JsonCall,
  tableName: string,
  appliances: readonly ApplianceConfig[],
): TopologyStore => {
  const Key = { pk: { S: 'topology#ghes' } };
  const known = new Set(appliances.map((a) => a.name));
  return {
    async current() {
      const { Item } = await dynamo<{ Item?: Record<string, { S: string }> }>('GetItem', {
        TableName: tableName,
        Key,
        ConsistentRead: true,
      });
      // A row naming appliances the config no longer has (renamed nodes) is not trusted.
      if (!Item?.primary || !known.has(Item.primary.S) || !known.has(Item.replica?.S ?? ''))
        return initialTopology(appliances);
      return {
        primary: Item.primary.S,
        replica: Item.replica!.S,
        updatedAt: Item.updatedAt?.S ?? null,
        changedBy: Item.changedBy?.S ?? null,
      };
    },

    async record({ primary, replica, expectedPrimary, changedBy, now }) {
      const initial = initialTopology(appliances);
      try {
        await dynamo('PutItem', {
          TableName: tableName,
          Item: {
            ...Key,
            primary: { S: primary },
            replica: { S: replica },
            updatedAt: { S: now.toISOString() },
            changedBy: { S: changedBy },
          },
          // No row yet means the config's initial roles, so only a run that started from those may write.
          ConditionExpression:
            expectedPrimary === initial.primary
              ? 'attribute_not_exists(pk) OR #primary = :expected'
              : '#primary = :expected',
          ExpressionAttributeNames: { '#primary': 'primary' },
          ExpressionAttributeValues: { ':expected': { S: expectedPrimary } },
        });
      } catch (error) {
        if (isConditionFailure(error))
          throw new TopologyChangedError(
            `topology: expected ${expectedPrimary} as primary, but the record names another; not overwritten`,
          );
        throw error;
      }
      return { primary, replica, updatedAt: now.toISOString(), changedBy };
    },
  };
};
