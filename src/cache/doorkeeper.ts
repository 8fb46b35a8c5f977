// TinyLFU's doorkeeper for the in-process tier: a Bloom filter of the credentials offered to the
// tier while it was full and refused, so that one offered again is let in (see MemoryTier.admit).
// Bits in a typed array rather than the hashes in a Set: at a million tokens used at random,
// every refused offer put one more string in the Set, each outliving young-generation GCs.

/**
 * Bits per credential remembered; with three probes, at most about 3% false "seen before" (less,
 * as the array is rounded up to a power of two).
 */
const BITS_PER_ENTRY = 8;
const SEEDS = [0, 0x9e3779b9, 0x85ebca6b];

export class Doorkeeper {
  private readonly bits: Uint32Array;
  private readonly mask: number;
  private remembered = 0;
  /** The bits of the credential being offered, worked out once for the test and the remembering. */
  private readonly probes = new Uint32Array(SEEDS.length);

  /** Remembers up to `capacity` credentials, then starts over (TinyLFU's reset). */
  constructor(private readonly capacity: number) {
    let size = 32;
    while (size < capacity * BITS_PER_ENTRY) size *= 2;
    this.bits = new Uint32Array(size / 32);
    this.mask = size - 1;
  }

  /** True if `hash` (SHA-256, hex) was offered since the last start; else remembers it. */
  offeredBefore(hash: string): boolean {
    const word = lastHexWord(hash);
    let seen = true;
    for (let i = 0; i < SEEDS.length; i++) {
      this.probes[i] = mix(word ^ SEEDS[i]!) & this.mask;
      seen &&= this.has(this.probes[i]!);
    }
    if (seen) return true;
    if (this.remembered >= this.capacity) this.clear();
    for (const bit of this.probes) this.set(bit);
    this.remembered++;
    return false;
  }

  private has(bit: number): boolean {
    return (this.bits[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  private set(bit: number): void {
    this.bits[bit >>> 5]! |= 1 << (bit & 31);
  }

  clear(): void {
    this.bits.fill(0);
    this.remembered = 0;
  }
}

/** The hash's last 32 bits: a SHA-256 is uniform throughout, and this reads it without a copy. */
function lastHexWord(hash: string): number {
  let word = 0;
  for (let i = hash.length - 8; i < hash.length; i++) {
    const code = hash.charCodeAt(i);
    word = (word << 4) | (code <= 57 ? code - 48 : (code | 32) - 87);
  }
  return word;
}

/** MurmurHash3's finaliser: spreads one word over three independent-looking probes. */
function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
