/**
 * YAML (and JSON, which js-yaml reads too) from users and peers, loaded within bounds. js-yaml
 * shares the value of an alias wherever it is used, so a "billion laughs" document loads small
 * and explodes only when something walks or serialises it: every loaded document is walked here
 * once, counting nodes as they will be expanded, with a cap; an alias that contains itself is
 * refused too. Syntax errors are reported by reason and position only: js-yaml's own message
 * quotes the lines around the error, and those may hold a password or a token.
 */
import * as yaml from 'js-yaml';

/** Nodes (mappings, lists and scalars) all the documents of one text may expand to. */
export const MAX_YAML_NODES = 1_000_000;
/** Nesting as written (js-yaml's own limit), and as expanded through aliases. */
const MAX_WRITTEN_DEPTH = 100;
const MAX_EXPANDED_DEPTH = 1000;

/** Why a text is not usable YAML; `reason` never holds text of the document. */
export class YamlProblem extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'YamlProblem';
  }
}


/** js-yaml's reason with anything it quotes from the text (alias names, tags) cut out. */
function withoutQuotes(reason: string): string {
  return reason.replace(/"[^"]*"/g, '"…"').replace(/'[^']*'/g, "'…'").replace(/!<[^>]*>/g, '!<…>').slice(0, 200);
}

/** "bad indentation of a mapping entry at line 3, column 7". */
export function syntaxProblem(error: unknown): string | undefined {
  if (error instanceof yaml.YAMLException) {
    const where = error.mark ? ` at line ${error.mark.line + 1}, column ${error.mark.column + 1}` : '';
    return `${withoutQuotes(error.reason ?? 'parse error')}${where}`;
  }
  // Deep input that gets past js-yaml's depth check still must not end in a raw V8 error.
  if (error instanceof RangeError) return 'it is nested too deeply';
  return undefined;
}

interface Walk {
  nodes: number;
  readonly ancestors: Set<object>;
  readonly checkScalar?: (value: unknown) => string | undefined;
}

function walk(value: unknown, state: Walk, depth: number): void {
  state.nodes += 1;
  if (state.nodes > MAX_YAML_NODES) throw new YamlProblem(`its aliases expand to more than ${MAX_YAML_NODES} nodes`);
  if (depth > MAX_EXPANDED_DEPTH) throw new YamlProblem(`its aliases nest deeper than ${MAX_EXPANDED_DEPTH} levels`);
  // Mappings and lists are walked; anything else (a scalar, or a value a schema made) is checked.
  if (typeof value !== 'object' || value === null || !(Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype)) {
    const problem = state.checkScalar?.(value);
    if (problem) throw new YamlProblem(problem);
    return;
  }
  if (state.ancestors.has(value)) throw new YamlProblem('an alias refers to a node that contains it');
  state.ancestors.add(value);
  for (const child of Array.isArray(value) ? value : Object.values(value)) walk(child, state, depth + 1);
  state.ancestors.delete(value);
}

export interface LoadOptions {
  readonly schema?: yaml.Schema;
  /** Refuses a scalar JSON cannot carry, saying why. */
  readonly checkScalar?: (value: unknown) => string | undefined;
}

/** Every document of `text`, walked and within bounds; throws a YamlProblem. */
export function loadDocuments(text: string, options: LoadOptions = {}): unknown[] {
  let documents: unknown[];
  try {
    documents = yaml.loadAll(text, null, { schema: options.schema, maxDepth: MAX_WRITTEN_DEPTH } as yaml.LoadOptions);
  } catch (error) {
    const problem = syntaxProblem(error);
    if (problem === undefined) throw error;
    throw new YamlProblem(problem);
  }
  const state: Walk = { nodes: 0, ancestors: new Set(), checkScalar: options.checkScalar };
  for (const document of documents) walk(document, state, 0);
  return documents;
}

/** One document, as a kubeconfig is. */
export function loadDocument(text: string, options: LoadOptions = {}): unknown {
  const documents = loadDocuments(text, options);
  if (documents.length > 1) throw new YamlProblem('it holds more than one YAML document');
  return documents[0];
}
