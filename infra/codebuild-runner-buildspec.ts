/**
 * The buildspec every runner build gets (buildspecOverride). It reads the runner credentials from
 * the SecureString parameter CodeBuild resolved into RUNNER_CREDENTIALS, deletes the parameter, and
 * runs one ephemeral Actions runner (JIT config, or a registration token on GHES < 3.10).
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
        if [ "$(jq -r .kind <<<"$RUNNER_CREDENTIALS")" = jit ]; then
          ./run.sh --jitconfig "$(jq -r .encodedJitConfig <<<"$RUNNER_CREDENTIALS")"
        else
          ./config.sh --unattended --ephemeral --disableupdate \\
            --url "$(jq -r .url <<<"$RUNNER_CREDENTIALS")" \\
            --token "$(jq -r .token <<<"$RUNNER_CREDENTIALS")" \\
            --name "$(jq -r .runnerName <<<"$RUNNER_CREDENTIALS")" \\
            --labels "$(jq -r '.labels | join(",")' <<<"$RUNNER_CREDENTIALS")"
          ./run.sh
        fi
`;
