// Serverless variable source for pool maintenance: one EventBridge schedule per pool that has a
// `maintenance:` block in the deployment config, each starting the state machine with {"pool": name}.
const { readFileSync } = require('node:fs');
const { parse } = require('yaml');

const pools = () =>
  parse(readFileSync(process.env.GHES_CP_CONFIG || './config/deploy.example.yaml', 'utf8')).pools ?? [];
const maintained = () => pools().filter((pool) => pool.maintenance);

module.exports.schedules = () =>
  maintained().map((pool) => ({
    schedule: { rate: pool.maintenance.schedule, input: { pool: pool.name }, enabled: true },
  }));

/** `ghes-cp:pool` tag values of maintained pools: the only instances the maintenance role may touch. */
module.exports.poolTagValues = () => {
  const values = maintained().map((pool) => (pool.ec2 && pool.ec2.tagValue) || pool.name);
  // A condition needs a value; with no maintained pool this matches no instance.
  return values.length ? values : ['-no-maintained-pool-'];
};
