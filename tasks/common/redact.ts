/** A URL with its query string and fragment removed: SAS tokens must never reach a log or output. */
export function withoutQuery(text: string): string {
  return text.replace(/(https?:\/\/[^\s?#]*)[?#][^\s]*/gi, '$1');
}
