import { readFileSync } from 'node:fs';
import { configWarnings, parseDeploymentConfig } from '../shared/config/deployment-config.ts';

/** `npm run package` validates the deployment config first: osls would read a broken one silently. */
const path = process.env.GHES_CP_CONFIG ?? 'config/deploy.example.yaml';
try {
  const config = parseDeploymentConfig(readFileSync(path, 'utf8'), path);
  console.log(`${path}: valid (${config.pools.length} pools, region ${config.region})`);
  for (const warning of configWarnings(config)) console.warn(`${path}: warning: ${warning}`);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
