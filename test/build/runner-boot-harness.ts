import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Runs a runner boot script (EC2 user data or the buildspec's commands) for real under bash, with
 * the machine around it stubbed: instance metadata, the AWS CLI, runuser, shutdown, pkill, and an
 * Actions runner that either runs a job or idles. `sleep` runs 100× faster. Every stub appends to
 * one log, so a test reads the order things happened in.
 */
export interface BootRun {
  readonly log: string[];
  /** ACTIONS_RUNNER_INPUT_* the runner saw, and its command-line arguments. */
  readonly runnerEnv: Record<string, string>;
  readonly runnerArgs: string;
  /** ACTIONS_RUNNER_INPUT_* config.sh saw (registration-token path). */
  readonly configEnv: Record<string, string>;
  readonly exitCode: number | null;
  /** Parameter Store names still there when the script ended. */
  readonly parametersLeft: string[];
  readonly staleRegistration: boolean;
}

const stub = (dir: string, name: string, body: string) => {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/bash\n${body}\n`);
  chmodSync(path, 0o755);
};

const envOf = (text: string) =>
  Object.fromEntries(
    text
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );

export const runBootScript = async (
  script: string,
  options: {
    /** Parameter Store as the dispatcher left it: name → value (JSON). */
    parameters?: Record<string, string>;
    /**
     * The instance as IMDSv2 shows it. `tags`: only those readable under `meta-data/tags/instance/`;
     * leave a tag out for an instance without it or with tags not allowed in its metadata (both 404).
     */
    instance?: { id?: string; tags?: Record<string, string> };
    runner: 'runs-a-job' | 'idles';
    env?: Record<string, string>;
    /** The disk as an earlier boot left it: a Worker log of its job and a local registration. */
    earlierBoot?: boolean;
  },
): Promise<BootRun> => {
  const root = mkdtempSync(join(tmpdir(), 'boot-'));
  const bin = join(root, 'bin');
  const home = join(root, 'actions-runner');
  mkdirSync(bin);
  mkdirSync(home);
  const logFile = join(root, 'log');
  // One file per parameter, its name with `/` spelt %2F, so no name can point outside the folder.
  const ssm = join(root, 'ssm');
  const fileOf = (name: string) => join(ssm, name.replaceAll('/', '%2F'));
  mkdirSync(ssm);
  for (const [name, value] of Object.entries(options.parameters ?? {})) writeFileSync(fileOf(name), value);
  const tags = join(root, 'imds-tags');
  mkdirSync(tags);
  for (const [key, value] of Object.entries(options.instance?.tags ?? {}))
    writeFileSync(join(tags, key), value);
  const record = `echo "$(basename "$0") $*" >> ${logFile}`;
  // IMDSv2: metadata only with the session token; a missing path is a 404 (curl -f: exit 22).
  stub(
    bin,
    'curl',
    `${record}
case "$*" in *"PUT http://169.254.169.254/latest/api/token"*) echo imds-token; exit 0 ;; esac
case "$*" in *"X-aws-ec2-metadata-token: imds-token"*) ;; *) exit 22 ;; esac
url=\${@: -1}
case "$url" in
  */meta-data/instance-id) echo ${options.instance?.id ?? 'i-0test'} ;;
  */meta-data/placement/region) echo eu-west-1 ;;
  */meta-data/tags/instance/*) key=\${url##*/tags/instance/}; [ -f "${tags}/$key" ] && cat "${tags}/$key" || exit 22 ;;
  *) exit 22 ;;
esac`,
  );
  // Parameter Store by name: ParameterNotFound (exit 254) for a name nobody wrote.
  stub(
    bin,
    'aws',
    `${record}
name=''; previous=''
for arg in "$@"; do [ "$previous" = --name ] && name=$arg; previous=$arg; done
file="${ssm}/\${name//\\//%2F}"
case "$*" in
  *"ssm get-parameter"*) [ -n "$name" ] && [ -f "$file" ] && cat "$file" || exit 254 ;;
  *"ssm delete-parameter"*) [ -n "$name" ] && [ -f "$file" ] && rm -f "$file" || exit 254 ;;
esac`,
  );
  stub(bin, 'runuser', `${record}\nwhile [ "$1" != -- ]; do shift; done; shift; exec "$@"`);
  stub(bin, 'shutdown', record);
  stub(bin, 'logger', record);
  stub(bin, 'pkill', `${record}\nkill -INT "$(cat ${root}/runner.pid)"`);
  stub(bin, 'sleep', `exec /usr/bin/sleep "$(awk -v s="$1" 'BEGIN { print s / 100 }')"`);
  stub(
    home,
    'run.sh',
    `echo "run.sh started" >> ${logFile}
echo $$ > ${root}/runner.pid
env | grep '^ACTIONS_RUNNER_INPUT_' > ${root}/runner.env
echo "$*" > ${root}/runner.args
if [ "${options.runner}" = runs-a-job ]; then mkdir -p _diag; touch _diag/Worker_1.log; echo "run.sh job done" >> ${logFile}; exit 0; fi
trap 'echo "run.sh interrupted" >> ${logFile}; exit 0' INT
while :; do /usr/bin/sleep 0.02; done`,
  );
  if (options.earlierBoot) {
    const oldLog = join(home, '_diag', 'Worker_20261101-000000-utc.log');
    mkdirSync(join(home, '_diag'));
    writeFileSync(oldLog, 'a job of an earlier boot');
    const yesterday = new Date(Date.now() - 86_400_000);
    utimesSync(oldLog, yesterday, yesterday);
    writeFileSync(join(home, '.runner'), '{}');
  }
  stub(
    home,
    'config.sh',
    `echo "config.sh $*" >> ${logFile}\nenv | grep '^ACTIONS_RUNNER_INPUT_' | sort > ${root}/config.env`,
  );

  const exitCode = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('bash', ['-c', script], {
      cwd: home,
      env: {
        PATH: `${bin}:/usr/bin:/bin:/usr/sbin:/sbin`,
        RUNNER_HOME: home,
        ...options.env,
      },
      stdio: 'ignore',
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  const read = (name: string) => (existsSync(join(root, name)) ? readFileSync(join(root, name), 'utf8') : '');
  return {
    log: read('log').trim().split('\n').filter(Boolean),
    runnerEnv: envOf(read('runner.env')),
    runnerArgs: read('runner.args').trim(),
    configEnv: envOf(read('config.env')),
    exitCode,
    parametersLeft: readdirSync(ssm).map((file) => file.replaceAll('%2F', '/')),
    staleRegistration: existsSync(join(home, '.runner')),
  };
};
