// The in-process tier: an LRU bounded by entry count and bytes. Whether it may be trusted is
// decided by CredentialCache, which empties it whenever coherence is in doubt.
import { LRUCache } from 'lru-cache';
import { entrySize, type CacheEntry } from './entry.js';

export class MemoryTier {
  private readonly lru: LRUCache<string, CacheEntry> | undefined;

  constructor(maxEntries: number, maxBytes: number) {
    this.lru =
      maxEntries > 0 && maxBytes > 0
        ? new LRUCache<string, CacheEntry>({ max: maxEntries, maxSize: maxBytes, sizeCalculation: entrySize })
        : undefined;
  }

  get(key: string): CacheEntry | undefined {
    return this.lru?.get(key);
  }

  set(key: string, entry: CacheEntry): void {
    this.lru?.set(key, entry);
  }

  delete(key: string): void {
    this.lru?.delete(key);
  }

  clear(): void {
    this.lru?.clear();
  }

  get size(): number {
    return this.lru?.size ?? 0;
  }
}
