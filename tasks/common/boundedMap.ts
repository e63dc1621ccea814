/**
 * Maps items through an async function with at most `limit` calls in flight, keeping the order.
 * Used wherever work is one request per item (S3 HEAD and tagging, Azure ML version listings,
 * registry blob checks and uploads) so a long list neither crawls nor floods the service.
 */
export async function mapBounded<T, R>(items: readonly T[], limit: number, map: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await map(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
