/** A run summary as Markdown: a heading and a two-column table, values in code spans. */
export function markdownSummary(title: string, rows: readonly (readonly [string, string])[], note?: string): string {
  const escape = (text: string) => text.replace(/\|/g, '\\|').replace(/`/g, "'");
  const lines = [`### ${title}`, '', '| | |', '|---|---|', ...rows.map(([name, value]) => `| ${name} | \`${escape(value)}\` |`)];
  if (note) lines.push('', note);
  return `${lines.join('\n')}\n`;
}
