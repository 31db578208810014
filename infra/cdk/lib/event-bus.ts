// The deployment's event bus (docs/events.md): the change events (message.received,
// conversation.*, reply.*) that stats-aggregator publishes from the table's stream, and its
// outputs. Same logical ids as the SAM template: EventBus; outputs EventBusName, EventBusArn.
import { Aws, CfnOutput } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import { Construct } from 'constructs';

/** The bus `<stack name>-events`. */
export function gatewayEventBus(scope: Construct): events.CfnEventBus {
  const bus = new events.CfnEventBus(scope, 'EventBus', { name: `${Aws.STACK_NAME}-events` });
  bus.overrideLogicalId('EventBus');
  new CfnOutput(scope, 'EventBusName', {
    description:
      "The deployment's EventBridge bus of change events (docs/events.md): add rules on it (source channel-gateway) to follow conversations",
    value: bus.ref,
  });
  new CfnOutput(scope, 'EventBusArn', { description: 'ARN of the event bus of change events', value: bus.attrArn });
  return bus;
}
