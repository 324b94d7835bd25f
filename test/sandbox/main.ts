import { startSandbox } from './sandbox.ts';
import { loadSandboxConfig } from './sandbox-config.ts';

/** `npm start`: the sandbox on 127.0.0.1:$PORT (default 8787), until Ctrl-C. */
const port = Number(process.env.PORT ?? 8787);
const configPath = process.env.SANDBOX_CONFIG;
const config = configPath ? loadSandboxConfig(configPath) : loadSandboxConfig();
const sandbox = await startSandbox({
  config,
  port,
  logLevel: (process.env.LOG_LEVEL as 'INFO') ?? 'INFO',
  prettyLogs: true,
  // An operator watching the sandbox sees the handlers' logs, as CloudWatch would show them.
  functionLogs: 'console',
});

console.log(`ghes-control-plane sandbox on ${sandbox.url}
  dashboard        ${sandbox.url}/
  state (JSON)     ${sandbox.url}/sandbox/state
  GitHub webhooks  POST ${sandbox.url}/github/webhook   (secret: WEBHOOK_SECRET or the sandbox config's)
  AWS twin         ${sandbox.twin.endpoint.url}
  timeScale        ${config.sandbox.timeScale}`);

const stop = async () => {
  await sandbox.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
