// Serverless variable source: the deployment config as one JSON string for the DEPLOYMENT_CONFIG
// environment variable (the dispatcher validates it at cold start). serverless.yml cannot read a
// file as raw text, and ${file(x.yaml)} gives an object, which an environment variable cannot hold.
const { readFileSync } = require('node:fs');
const { parse } = require('yaml');

module.exports.json = () =>
  JSON.stringify(parse(readFileSync(process.env.GHES_CP_CONFIG || './config/deploy.example.yaml', 'utf8')));

/** Secrets the dispatcher may read: the App's private key, and the CA bundle when one is configured. */
module.exports.dispatcherSecretArns = () => {
  const { github } = parse(
    readFileSync(process.env.GHES_CP_CONFIG || './config/deploy.example.yaml', 'utf8'),
  );
  return [github.privateKeySecretArn, github.caBundleSecretArn].filter(Boolean);
};
