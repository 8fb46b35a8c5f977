// The 200 bodies of /me and /verify, serialised once per credential rather than once per
// request. A warm validation hands the routes the same cached AuthContext object every time
// (the in-process tier's entry), and these bodies are a function of it, so the JSON text can be
// kept with it. Serialising was the largest cost left on a warm request after Fastify's own.
// What changes between requests for the same credential (/me's last_used_at, which moves every
// second) is a slot: the text is kept in two parts and the live value put between them.
//
// A WeakMap: a text lives as long as its entry and no longer (the in-process tier's byte bound
// counts it, see cache/entry.ts). An AuthContext the in-process tier does not keep (a Redis hit
// without that tier, or one it refused) is rendered for its request and not kept.
import type { FastifyReply } from 'fastify';
import type { AuthContext } from '../core/types.js';

/** What Fastify itself sends JSON with. */
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Stands in for the live value while the body is rendered. It is found by its last occurrence:
 * a route puts its slot after every value a user controls (names, emails, abilities), so the
 * same text inside those can never be taken for it.
 */
const SLOT = '~latchkey:live-slot~';
const SLOT_JSON = JSON.stringify(SLOT);

interface Rendered {
  head: string;
  /** The text after the slot; undefined for a body without one. */
  tail: string | undefined;
}

/** `Owner`: what a body is a function of (the benchmark's baselines use their own type). */
export class RenderedBodies<Owner extends object = AuthContext> {
  private readonly texts = new WeakMap<Owner, Rendered>();

  /**
   * `keep`: whether an owner lives on after its request (a credential the in-process tier keeps).
   * A text kept for one that does not is never used again, and the WeakMap's hold on it makes it
   * outlive a young-generation GC: it is promoted, then collected at a full GC's cost.
   */
  constructor(private readonly keep: (owner: Owner) => boolean = () => true) {}

  /**
   * Sends `present()` as the route's 200 body, serialised by the route's own response schema
   * (reply.serialize, as reply.send(object) would), or the text kept from an earlier request.
   */
  send(reply: FastifyReply, owner: Owner, present: () => object): FastifyReply {
    const kept = this.texts.get(owner) ?? this.render(reply, owner, present);
    return reply.type(JSON_TYPE).send(kept.head);
  }

  /**
   * The same, for a body with one string-or-null value that changes between requests: `present`
   * places the slot it is given where `live` goes, as that value.
   */
  sendWithSlot(reply: FastifyReply, owner: Owner, live: string | null, present: (slot: string) => object): FastifyReply {
    const kept = this.texts.get(owner) ?? this.render(reply, owner, () => present(SLOT));
    const value = live === null ? 'null' : `"${live}"`;
    return reply.type(JSON_TYPE).send(kept.tail === undefined ? kept.head : kept.head + value + kept.tail);
  }

  private render(reply: FastifyReply, owner: Owner, present: () => object): Rendered {
    // Response-schema serialisers (fast-json-stringify) return strings; the type allows buffers.
    const text = reply.serialize(present()) as string;
    const at = text.lastIndexOf(SLOT_JSON);
    const rendered = at < 0 ? { head: text, tail: undefined } : { head: text.slice(0, at), tail: text.slice(at + SLOT_JSON.length) };
    if (this.keep(owner)) this.texts.set(owner, rendered);
    return rendered;
  }
}
