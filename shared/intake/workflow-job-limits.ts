/**
 * Upper bounds on what a `workflow_job` delivery may carry into the ledger and onto the bus. GitHub
 * sends far less; the bounds exist so that no signed delivery can build a bus event over
 * EventBridge's 256 KB entry limit (PutEvents answers `EntrySizeTooLarge` and the job would stay
 * `queued` forever) or a ledger row near DynamoDB's 400 KB item limit. A delivery over a bound is
 * refused with 400 naming the field, which GitHub shows in the hook's delivery log.
 *
 * Lengths count Unicode code points. JSON escapes a code point to at most 6 bytes (`\u0001`), so the
 * worst event these bounds allow is 128,440 bytes by EventBridge's count
 * (test/unit/intake/workflow-job-event-size.test.ts builds it, and checks the wire JSON too): under
 * half the budget, so GitHub may grow a field without us refusing real jobs. The deploy notifier's
 * fields (head sha, sender, timestamps) took 9 KB of the 12 KB that were left below half.
 */
export const WORKFLOW_JOB_LIMITS = {
  /** Labels a job asks for in `runs-on`. Real jobs ask for a handful. */
  labels: 64,
  /** Characters in one label. */
  labelLength: 256,
  /** `repository.owner.login`. GitHub caps user and organisation names at 39 characters. */
  ownerLength: 255,
  /**
   * `repository.full_name`: owner, `/`, name. GitHub caps repository names at 100 characters
   * (https://docs.github.com/repositories/creating-and-managing-repositories/repository-limits).
   */
  repositoryLength: 512,
  /** `workflow_job.workflow_name`, the workflow file's `name:`; GitHub publishes no limit. */
  workflowNameLength: 1024,
  /**
   * `workflow_job.head_branch`. Git itself sets no limit on a ref name (git-check-ref-format); most
   * file systems stop each path component of a loose ref at 255 bytes.
   */
  headBranchLength: 1024,
  /** `workflow_job.name`, which a matrix expands (`build (ubuntu, 22, …)`); stored in the ledger only. */
  jobNameLength: 1024,
  /** `workflow_job.runner_name`. GitHub refuses runner names over 64 characters. */
  runnerNameLength: 256,
  /** `workflow_job.conclusion`: GitHub's values are single words, `action_required` the longest. */
  conclusionLength: 64,
  /** `workflow_job.head_sha`: 40 hex digits, 64 in a SHA-256 repository. */
  headShaLength: 64,
  /** `sender.login`, who triggered the run. GitHub caps user names at 39 characters. */
  senderLength: 255,
  /** `created_at`, `started_at`, `completed_at`: ISO 8601, 20 characters as GitHub writes them. */
  timestampLength: 64,
  /** `X-GitHub-Delivery`, a GUID (36 characters); it also keys the delivery claim in DynamoDB. */
  deliveryIdLength: 256,
} as const;

/**
 * The length of `text` in code points (a surrogate pair counts once), counted no further than
 * `max + 1`, so a 25 MB string over the bound costs no more than the bound.
 */
export const codePointLength = (text: string, max: number): number => {
  if (text.length <= max) return text.length; // never more code points than UTF-16 units
  let count = 0;
  for (let i = 0; i < text.length && count <= max; i++, count++) {
    const unit = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    if (unit >= 0xd800 && unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++;
  }
  return count;
};
