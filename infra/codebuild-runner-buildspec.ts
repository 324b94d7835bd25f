/**
 * The buildspec every runner build gets (buildspecOverride). It reads the runner credentials from
 * the SecureString parameter CodeBuild resolved into RUNNER_CREDENTIALS, deletes the parameter, and
 * runs one ephemeral Actions runner (JIT config, or a registration token on GHES < 3.10). The
 * runner reads its inputs from ACTIONS_RUNNER_INPUT_* variables, which keeps them off the command line.
 * The image must carry the Actions runner in /actions-runner, plus jq and the AWS CLI.
 */
export const RUNNER_BUILDSPEC = `version: 0.2
env:
  shell: bash
phases:
  build:
    commands:
      - aws ssm delete-parameter --name "$RUNNER_CREDENTIALS_PARAMETER" || true
      - cd /actions-runner
      - |
        run_runner() {
          if [ "$(jq -r .kind <<<"$RUNNER_CREDENTIALS")" = jit ]; then
            ACTIONS_RUNNER_INPUT_JITCONFIG="$(jq -r .encodedJitConfig <<<"$RUNNER_CREDENTIALS")" ./run.sh
          else
            ACTIONS_RUNNER_INPUT_URL="$(jq -r .url <<<"$RUNNER_CREDENTIALS")" \\
            ACTIONS_RUNNER_INPUT_TOKEN="$(jq -r .token <<<"$RUNNER_CREDENTIALS")" \\
            ACTIONS_RUNNER_INPUT_NAME="$(jq -r .runnerName <<<"$RUNNER_CREDENTIALS")" \\
            ACTIONS_RUNNER_INPUT_LABELS="$(jq -r '.labels | join(",")' <<<"$RUNNER_CREDENTIALS")" \\
            ACTIONS_RUNNER_INPUT_RUNNERGROUP="$(jq -r '.runnerGroup // empty' <<<"$RUNNER_CREDENTIALS")" \\
              ./config.sh --unattended --ephemeral --disableupdate
            ./run.sh
          fi
        }
        idle_seconds="$(jq -r '(.idleMinutes // 10) * 60 | floor' <<<"$RUNNER_CREDENTIALS")"
        run_runner &
        runner=$!
        # No job within idleMinutes (its job went to another runner): end the build, not bill it.
        ( sleep "$idle_seconds"; compgen -G '_diag/Worker_*.log' >/dev/null || pkill -INT -f Runner.Listener ) &
        watchdog=$!
        wait "$runner"
        status=$?
        kill "$watchdog" 2>/dev/null || true
        exit "$status"
`;
