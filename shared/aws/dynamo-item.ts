/**
 * DynamoDB's attribute-value JSON, for the few shapes this project stores. Kept local because
 * `@aws-sdk/util-dynamodb` pulls SDK types and runtime into the webhook bundle for 40 lines of work.
 */
export type AttributeValue =
  | { S: string }
  | { N: string }
  | { BOOL: boolean }
  | { NULL: true }
  | { L: AttributeValue[] }
  | { M: Record<string, AttributeValue> }
  | { SS: string[] };

export type Item = Record<string, AttributeValue>;

export const toAttribute = (value: unknown): AttributeValue => {
  if (value === null || value === undefined) return { NULL: true };
  if (typeof value === 'string') return { S: value };
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`cannot store the number ${value} in DynamoDB`);
    return { N: String(value) };
  }
  if (typeof value === 'boolean') return { BOOL: value };
  if (Array.isArray(value)) return { L: value.map(toAttribute) };
  if (typeof value === 'object') return { M: toItem(value as Record<string, unknown>) };
  throw new TypeError(`cannot store a ${typeof value} in DynamoDB`);
};

/** Undefined members are left out, as DynamoDB has no "undefined". */
export const toItem = (record: Record<string, unknown>): Item => {
  const item: Item = {};
  for (const [key, value] of Object.entries(record)) {
    if (value !== undefined) item[key] = toAttribute(value);
  }
  return item;
};

export const fromAttribute = (attribute: AttributeValue): unknown => {
  if ('S' in attribute) return attribute.S;
  if ('N' in attribute) return Number(attribute.N);
  if ('BOOL' in attribute) return attribute.BOOL;
  if ('NULL' in attribute) return null;
  if ('L' in attribute) return attribute.L.map(fromAttribute);
  if ('M' in attribute) return fromItem(attribute.M);
  if ('SS' in attribute) return [...attribute.SS];
  throw new TypeError(`unsupported DynamoDB attribute ${JSON.stringify(attribute)}`);
};

export const fromItem = (item: Item): Record<string, unknown> => {
  const record: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(item)) record[key] = fromAttribute(value);
  return record;
};
