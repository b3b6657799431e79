/**
 * Token buckets of authentication attempts that the in-memory key index could not answer
 * (unknown keys), per client address. A peer that keeps sending keys nobody issued runs its
 * bucket dry and is answered RESOURCE_EXHAUSTED with RetryInfo until it refills; calls with a
 * known key never take a token, so a legitimate client behind the same address is unaffected.
 */
export interface PeerFailureLimits {
  /** Unknown keys a peer may send at once after a quiet period. */
  burst: number;
  /** Unknown keys per second a peer may keep sending. */
  perSecond: number;
  /** Peers tracked at once; the least recently seen is forgotten first (bounds memory). */
  maxPeers: number;
}

/** A client that mistyped its key a few times, or a fleet restarting with a fresh key, stays well within these. */
export const DEFAULT_PEER_FAILURE_LIMITS: PeerFailureLimits = { burst: 20, perSecond: 5, maxPeers: 10_000 };

/** IPv6 clients get a whole /64 each (4 groups of 16 bits), as one host commonly does. */
const IPV6_PREFIX_GROUPS = 4;

interface Bucket {
  tokens: number;
  atMs: number;
}

/** `::ffff:1.2.3.4` → `1.2.3.4`; an IPv6 address → its /64; anything else as is. */
export function peerKey(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  if (!address.includes(':')) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups.slice(0, IPV6_PREFIX_GROUPS).join(':')}::/64`;
}

export class PeerFailureLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limits: PeerFailureLimits = DEFAULT_PEER_FAILURE_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Takes one token for `peer`: 0 when it had one, otherwise how many milliseconds until it
   * has one again (the call is then refused without any lookup).
   */
  take(peer: string): number {
    const now = this.now();
    const bucket = this.buckets.get(peer);
    let tokens = this.limits.burst;
    if (bucket !== undefined) {
      this.buckets.delete(peer); // re-inserted below: Map order is recency order
      tokens = Math.min(this.limits.burst, bucket.tokens + ((now - bucket.atMs) / 1000) * this.limits.perSecond);
    }
    const refused = tokens < 1;
    const left = refused ? tokens : tokens - 1;
    if (left < this.limits.burst) {
      this.buckets.set(peer, { tokens: left, atMs: now });
      if (this.buckets.size > this.limits.maxPeers) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
    }
    return refused ? Math.ceil(((1 - tokens) / this.limits.perSecond) * 1000) : 0;
  }

  /** Peers currently tracked. */
  get size(): number {
    return this.buckets.size;
  }
}
