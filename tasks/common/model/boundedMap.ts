/**
 * Maps items through an async function with at most `limit` calls in flight, keeping the order.
 * Listings that need one request per object (S3 HEAD and tagging, one blob listing per Azure ML
 * version) use it so a large prefix neither crawls nor floods the service.
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
