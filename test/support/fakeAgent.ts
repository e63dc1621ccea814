import * as fs from 'node:fs';
import * as path from 'node:path';
import { OwnedLifetime } from '../../tasks/common/lifetime';
import type { Agent } from '../../tasks/common/pipeline/agent';
import { Network } from '../../tasks/common/net/network';
import { fakeEndpoint, type EndpointSpec } from './fakeAzureEndpoint';
import type { MessageKey } from '../../tasks/common/messages';
import { printed, recordingLog } from './capture';

/** An in-memory Agent: inputs and variables from maps, and a record of everything the task said. */
export interface RecordingAgent extends Agent {
  readonly lines: string[];
  readonly outputs: Record<string, string>;
  readonly secrets: string[];
  readonly progress: number[];
  readonly summaries: { title: string; markdown: string }[];
}

export function fakeAgent(
  inputs: Record<string, string>,
  options: { variables?: Record<string, string>; endpoints?: Record<string, Omit<EndpointSpec, 'id'>>; root?: string } = {},
): RecordingAgent {
  const lines: string[] = [];
  const log = recordingLog(lines);
  let network: Network | undefined;
  const secrets: string[] = [];
  const value = (text: string | undefined) => (text?.trim() ? text.trim() : undefined);
  const agent: RecordingAgent = {
    lines,
    outputs: {},
    secrets,
    progress: [],
    summaries: [],
    lifetime: new OwnedLifetime(),
    network: () => (network ??= new Network()),
    loc: (key: MessageKey, ...args: unknown[]) => printed(key, args),
    log,
    input: (name) => value(inputs[name]),
    pathInput: (name) => value(inputs[name]),
    secretInput(name) {
      const secret = value(inputs[name]);
      if (secret) secrets.push(secret);
      return secret;
    },
    urlInput(name) {
      const url = value(inputs[name]);
      const userInfo = url === undefined ? undefined : /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]*)@/i.exec(url)?.[1];
      if (userInfo) secrets.push(...userInfo.split(':').filter(Boolean).map((part) => decodeURIComponent(part)));
      return url;
    },
    variable: (name) => value(options.variables?.[name]),
    secretVariable(name) {
      const secret = value(options.variables?.[name]);
      if (secret) secrets.push(secret);
      return secret;
    },
    endpoint(id) {
      const spec = options.endpoints?.[id];
      return spec ? fakeEndpoint({ id, ...spec }) : undefined;
    },
    setSecret: (secret) => secrets.push(secret),
    setOutput(name, output) {
      agent.outputs[name] = output;
    },
    setProgress: (percent) => agent.progress.push(percent),
    uploadSummary: (title, markdown) => agent.summaries.push({ title, markdown }),
    findFiles: (patterns) => findFiles(options.root ?? process.cwd(), patterns),
  };
  return agent;
}

// task-lib's own matcher (minimatch 3, untyped here), so the fake matches as the agent does.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const minimatch: (file: string, pattern: string, options?: { dot?: boolean }) => boolean = require('minimatch');

/** task-lib's findMatch, for what tests use: include patterns, then '!' exclusions, files only. */
function findFiles(root: string, patterns: readonly string[]): string[] {
  const absolute = (pattern: string) => (path.isAbsolute(pattern) ? pattern : path.join(root, pattern));
  const includes = patterns.filter((pattern) => !pattern.startsWith('!')).map(absolute);
  const excludes = patterns.filter((pattern) => pattern.startsWith('!')).map((pattern) => absolute(pattern.slice(1)));
  const files = walk(root).concat(includes.filter((pattern) => fs.existsSync(pattern) && fs.statSync(pattern).isFile() && !pattern.startsWith(root)));
  return [...new Set(files)].filter((file) => includes.some((pattern) => minimatch(file, pattern, { dot: true })) && !excludes.some((pattern) => minimatch(file, pattern, { dot: true }))).sort();
}

function walk(folder: string): string[] {
  if (!fs.existsSync(folder)) return [];
  return fs.readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(folder, entry.name);
    return entry.isDirectory() ? walk(full) : entry.isFile() ? [full] : [];
  });
}
