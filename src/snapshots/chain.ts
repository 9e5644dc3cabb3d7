import { createHash } from 'node:crypto';

/** The chain IDs of a list of DiffIDs: one per prefix of the list. */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  let prev: string | undefined;
  for (const diffId of diffIds) {
    prev = prev === undefined ? diffId : `sha256:${createHash('sha256').update(`${prev} ${diffId}`).digest('hex')}`;
    out.push(prev);
  }
  return out;
}

/** The chain ID of the layer `diffId` applied on top of the chain `parent` (null: a base layer). */
export function childChainId(parent: string | null, diffId: string): string {
  return parent === null ? diffId : `sha256:${createHash('sha256').update(`${parent} ${diffId}`).digest('hex')}`;
}
