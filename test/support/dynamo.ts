import { startTwinAwsEndpoint, faultTargetsOf } from '../twin/aws-endpoint.ts';
import { startDynamoTwin } from '../twin/dynamodb.ts';
import { FaultInjector } from '../twin/faults.ts';
import { createJsonClient, dynamoDbSpec } from '../../shared/aws/json-client.ts';

/** The twin's DynamoDB (dynalite + transactions) behind the loopback endpoint, with a client for it. */
export const startDynamoForTest = async () => {
  const dynamo = await startDynamoTwin();
  const faults = new FaultInjector(() => ({ targets: faultTargetsOf([dynamo]) }));
  const endpoint = await startTwinAwsEndpoint([dynamo], faults);
  const call = createJsonClient(dynamoDbSpec, {
    region: 'eu-west-1',
    endpoint: endpoint.url,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  return {
    dynamo,
    faults,
    endpoint,
    call,
    async close() {
      await endpoint.close();
      await dynamo.close();
    },
  };
};
