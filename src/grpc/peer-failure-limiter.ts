/**
 * Token buckets of authentication failures (keys still unknown after a lookup), per client
 * address. A peer that keeps sending keys nobody issued runs its bucket dry, and its unknown
 * keys are then answered RESOURCE_EXHAUSTED with RetryInfo until it refills, without a lookup;
 * calls with a known key never need a token, so a legitimate client behind the same address is
 * unaffected.
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
   * 0 when `peer` has a token left (its unknown key may be looked up), otherwise how many
   * milliseconds until it has one again (the call is then refused without any lookup). Takes
   * nothing: only a key that is still unknown after its lookup costs a token (`failed`), so a
   * burst of calls with a key created a moment ago all wait for the same refresh and succeed.
   */
  waitMs(peer: string): number {
    const tokens = this.tokensOf(peer, this.now());
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) / this.limits.perSecond) * 1000);
  }

  /** Takes a token from `peer` for a key that was still unknown after its lookup (never below zero). */
  failed(peer: string): void {
    const now = this.now();
    const tokens = Math.max(0, this.tokensOf(peer, now) - 1);
    this.buckets.delete(peer); // re-inserted below: Map order is recency order
    this.buckets.set(peer, { tokens, atMs: now });
    if (this.buckets.size > this.limits.maxPeers) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
  }

  private tokensOf(peer: string, now: number): number {
    const bucket = this.buckets.get(peer);
    if (bucket === undefined) return this.limits.burst;
    return Math.min(this.limits.burst, bucket.tokens + ((now - bucket.atMs) / 1000) * this.limits.perSecond);
  }

  /** Peers currently tracked. */
  get size(): number {
    return this.buckets.size;
  }
}
