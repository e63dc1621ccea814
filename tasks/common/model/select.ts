import { SettingError, TaskError } from '../errors';
import type { ModelCandidate } from './layout';
import type { ModelSetting } from './settings';
import { compareVersions, sameVersionText } from './version';

/** What "latest" means: the highest version, the newest, the one whose tags match, or a pinned one. */
export type SelectionRule =
  | { readonly kind: 'highestVersion' }
  | { readonly kind: 'newest' }
  | { readonly kind: 'tagQuery'; readonly query: string }
  | { readonly kind: 'pinned'; readonly version: string };

export interface SelectionContext {
  readonly location: string;
  readonly prefix: string;
  /** For tagQuery: the names whose tags matched. */
  readonly tagMatches?: ReadonlySet<string>;
  /** Names that carry no version, for the error message when nothing matches. */
  readonly ignored: readonly string[];
  /** Whether a pre-release (1.4.0-rc.1) may be chosen by a rule other than pinned. */
  readonly includePrereleases: boolean;
}

const LISTED = 20;

/** Picks the model version a rule asks for. Pure: the listing and tag matches come in. */
export function selectModel(candidates: readonly ModelCandidate[], rule: SelectionRule, context: SelectionContext): ModelCandidate {
  const matching = candidates.filter((candidate) => isEligible(candidate, rule, context));
  // Pre-releases are skipped unless asked for, as npm's latest and NuGet do; a pinned version is taken as named.
  const skipsPrereleases = rule.kind !== 'pinned' && !context.includePrereleases;
  const eligible = skipsPrereleases ? matching.filter((candidate) => !isPrerelease(candidate)) : matching;
  if (eligible.length === 0 && matching.length > 0) throw onlyPrereleases(matching, rule, context);
  if (eligible.length === 0) throw nothingFound(candidates, rule, context);
  const order = rule.kind === 'newest' ? byNewestThenVersion : byVersion;
  const sorted = [...eligible].sort(order).reverse();
  if (sorted.length > 1 && order(sorted[0], sorted[1]) === 0 && rule.kind !== 'newest') {
    throw new TaskError('AmbiguousVersion', [sorted[0].version.raw, sorted[0].name, sorted[1].name]);
  }
  return sorted[0];
}

function isEligible(candidate: ModelCandidate, rule: SelectionRule, context: SelectionContext): boolean {
  switch (rule.kind) {
    case 'pinned':
      return sameVersionText(candidate.version.raw, rule.version);
    case 'tagQuery':
      return candidate.files.some((file) => context.tagMatches?.has(file.object.name));
    default:
      return true;
  }
}

export function isPrerelease(candidate: ModelCandidate): boolean {
  return candidate.version.prerelease.length > 0;
}

function byVersion(a: ModelCandidate, b: ModelCandidate): number {
  return compareVersions(a.version, b.version);
}

/** Azurite and some stores have one-second resolution: break ties by version, never by chance. */
function byNewestThenVersion(a: ModelCandidate, b: ModelCandidate): number {
  return Math.sign(a.lastModified.getTime() - b.lastModified.getTime()) || byVersion(a, b);
}

function onlyPrereleases(skipped: readonly ModelCandidate[], rule: SelectionRule, context: SelectionContext): SettingError<ModelSetting> {
  const versions = [...skipped].sort(byVersion).reverse().map((candidate) => candidate.version.raw);
  return new SettingError<ModelSetting>('includePrereleases', 'OnlyPrereleasesFound', [`${context.location}/${context.prefix}`, rule.kind, listed(versions)]);
}

function listed(names: readonly string[]): string {
  return names.slice(0, LISTED).join(', ') + (names.length > LISTED ? ', ...' : '');
}

function nothingFound(candidates: readonly ModelCandidate[], rule: SelectionRule, context: SelectionContext): TaskError {
  const where = `${context.location}/${context.prefix}`;
  const versions = [...candidates].sort(byVersion).reverse().map((candidate) => candidate.version.raw);
  const found = versions.length > 0 ? listed(versions) : 'no versions';
  const unversioned = context.ignored.length > 0 ? listed(context.ignored) : 'none';
  switch (rule.kind) {
    case 'pinned':
      return new SettingError<ModelSetting>('modelVersion', 'PinnedVersionNotFound', [rule.version, where, found]);
    case 'tagQuery':
      return new TaskError('NoVersionMatchesTags', [where, rule.query, found]);
    default:
      return new TaskError('NoVersionFound', [where, rule.kind, unversioned]);
  }
}
