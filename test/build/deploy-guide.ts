import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/** docs/deploy.md as the tests read it: its fenced blocks, in order, and its shell commands. */

export interface FencedBlock {
  readonly lang: string;
  readonly body: string;
  /** The block right after this one, when only blank lines separate them (a command's shown output). */
  readonly next?: FencedBlock;
}

export interface GuideCommand {
  /** As written, continuation lines included: what bash runs. */
  readonly text: string;
  /** On one line, for matching. */
  readonly line: string;
  /** The `text` block shown right after the command's block, for its last command only. */
  readonly expectedOutput?: string;
}

export const GUIDE_PATH = 'docs/deploy.md';

export const readGuide = (path = GUIDE_PATH): string => readFileSync(path, 'utf8');

export const fencedBlocks = (markdown: string): FencedBlock[] => {
  const found: { lang: string; body: string; start: number; end: number }[] = [];
  for (const match of markdown.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)) {
    found.push({
      lang: match[1]!,
      body: match[2]!,
      start: match.index,
      end: match.index + match[0].length,
    });
  }
  const blocks: FencedBlock[] = [];
  for (let i = found.length - 1; i >= 0; i--) {
    const block = found[i]!;
    const after = found[i + 1];
    const adjacent = after && markdown.slice(block.end, after.start).trim() === '';
    blocks.unshift({ lang: block.lang, body: block.body, ...(adjacent ? { next: blocks[0]! } : {}) });
  }
  return blocks;
};

/** Every command of the `sh` blocks, in order; comments and blank lines dropped. */
export const shellCommands = (markdown: string): GuideCommand[] =>
  fencedBlocks(markdown)
    .filter((block) => block.lang === 'sh')
    .flatMap((block) => {
      const commands: string[] = [];
      let current = '';
      for (const line of block.body.split('\n')) {
        if (current === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) continue;
        current += current ? `\n${line}` : line;
        if (!line.endsWith('\\')) {
          commands.push(current);
          current = '';
        }
      }
      const shown = block.next?.lang === 'text' ? block.next.body : undefined;
      return commands.map((text, i) => ({
        text,
        line: text.replace(/\\\n\s*/g, ''),
        ...(shown !== undefined && i === commands.length - 1 ? { expectedOutput: shown } : {}),
      }));
    });

/**
 * The commands the guide test does not run, by how they start (after an optional `NAME=$(`): each
 * needs AWS or GHES, reviewed one by one. Anything else in the guide is run, so a new offline command
 * cannot slip in untested; a new kind of online one must be added here, with its reason.
 */
export const NEEDS_AWS_OR_GHES: readonly { readonly prefix: string; readonly why: string }[] = [
  { prefix: 'aws ', why: 'calls AWS' },
  { prefix: 'npx osls deploy', why: 'creates or updates the stack in AWS' },
  { prefix: 'npx osls remove', why: 'deletes the stack in AWS' },
  { prefix: 'curl ', why: "reaches the deployed webhook endpoint from GHES's network" },
];

export const needsAwsOrGhes = (command: GuideCommand) => {
  const bare = command.line.replace(/^[A-Z_][A-Z0-9_]*=\$\(/, '');
  return NEEDS_AWS_OR_GHES.find(({ prefix }) => bare.startsWith(prefix));
};

/** The YAML blocks: fragments of a deployment config. */
export const yamlBlocks = (markdown: string): unknown[] =>
  fencedBlocks(markdown)
    .filter((block) => block.lang === 'yaml')
    .map((block) => parse(block.body) as unknown);

/** `--parameter-overrides` of each `aws cloudformation deploy` of a template under infra/templates/. */
export const templateDeploys = (markdown: string) =>
  shellCommands(markdown).flatMap((command) => {
    const template = /--template-file (infra\/templates\/[\w.-]+)/.exec(command.line)?.[1];
    const overrides = /--parameter-overrides (.*)$/.exec(command.line)?.[1];
    if (!template || overrides === undefined) return [];
    const keys = [...overrides.matchAll(/(?:^|\s)"?([A-Za-z][A-Za-z0-9]*)=/g)].map((match) => match[1]!);
    return [{ template, keys }];
  });

/** Output names the guide reads with `OutputKey=='…'` or lists in its outputs table. */
export const outputNames = (markdown: string): string[] => {
  const queried = [...markdown.matchAll(/OutputKey=='(\w+)'/g)].map((match) => match[1]!);
  const table = markdown.split('\n| Output')[1]?.split('\n\n')[0] ?? '';
  const listed = [...table.matchAll(/^\| `(\w+)`/gm)].map((match) => match[1]!);
  return [...new Set([...queried, ...listed])];
};

/**
 * A CloudFormation YAML template as plain data: `!Ref X` reads as `X`, `!Sub s` as `s` (the tags are
 * dropped), which is all the structural checks need.
 */
export interface TemplateDocument {
  readonly Parameters?: Record<string, { readonly Default?: unknown }>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- read by tests that know each shape
  readonly Resources: Record<string, { readonly Type: string; readonly Properties?: any }>;
  readonly Outputs?: Record<string, unknown>;
}
export const readTemplate = (path: string): TemplateDocument =>
  parse(readFileSync(path, 'utf8'), { logLevel: 'silent' }) as TemplateDocument;
