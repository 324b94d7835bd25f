/**
 * The buildspec every runner build gets (buildspecOverride). CodeBuild resolved the SecureString
 * parameter into RUNNER_CREDENTIALS before the first command; the first command deletes the parameter
 * (read once: its name is no use to anyone after that), and the runner block takes the credentials
 * out of the environment before it starts the runner, so no job step inherits them. Then one
 * ephemeral Actions runner (JIT config, or a registration token on GHES < 3.10) reads its inputs from
 * ACTIONS_RUNNER_INPUT_* variables, which keeps them off the command line.
 * The image must carry the Actions runner in /actions-runner, plus jq and the AWS CLI.
 */
export const RUNNER_BUILDSPEC = `version: 0.2
env:
  shell: bash
phases:
  build:
    commands:
      - for attempt in 1 2 3 4 5; do aws ssm delete-parameter --name "$RUNNER_CREDENTIALS_PARAMETER" && break; sleep "$attempt"; done; unset RUNNER_CREDENTIALS_PARAMETER
      - cd /actions-runner
      - |
        credentials="$RUNNER_CREDENTIALS"
        unset RUNNER_CREDENTIALS
        run_runner() {
          if [ "$(jq -r .kind <<<"$credentials")" = jit ]; then
            ACTIONS_RUNNER_INPUT_JITCONFIG="$(jq -r .encodedJitConfig <<<"$credentials")" ./run.sh
          else
            ACTIONS_RUNNER_INPUT_URL="$(jq -r .url <<<"$credentials")" \\
            ACTIONS_RUNNER_INPUT_TOKEN="$(jq -r .token <<<"$credentials")" \\
            ACTIONS_RUNNER_INPUT_NAME="$(jq -r .runnerName <<<"$credentials")" \\
            ACTIONS_RUNNER_INPUT_LABELS="$(jq -r '.labels | join(",")' <<<"$credentials")" \\
            ACTIONS_RUNNER_INPUT_RUNNERGROUP="$(jq -r '.runnerGroup // empty' <<<"$credentials")" \\
              ./config.sh --unattended --ephemeral --disableupdate
            ./run.sh
          fi
        }
        idle_seconds="$(jq -r '(.idleMinutes // 10) * 60 | floor' <<<"$credentials")"
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
