// The 200 bodies of /me and /verify, serialised once per credential rather than once per
// request. A warm validation hands the routes the same cached AuthContext object every time
// (the in-process tier's entry, immutable), and these bodies are a function of it and of a
// `version` the route names (what else the body shows, such as last_used_at), so the JSON text
// can be kept with it. Serialising was the largest cost left on a warm request after Fastify's own.
//
// A WeakMap: a text lives as long as its entry and no longer (the in-process tier's byte bound
// counts it, see cache/entry.ts). An AuthContext that is not cached (a Redis hit without the
// in-process tier) is rendered once and dropped with it.
import type { FastifyReply } from 'fastify';
import type { AuthContext } from '../core/types.js';

/** What Fastify itself sends JSON with. */
const JSON_TYPE = 'application/json; charset=utf-8';

interface Rendered {
  version: number | null;
  text: string;
}

/** `Owner`: what a body is a function of (the benchmark's baselines use their own type). */
export class RenderedBodies<Owner extends object = AuthContext> {
  private readonly texts = new WeakMap<Owner, Rendered>();

  /**
   * Sends `present()` as the route's 200 body, serialised by the route's own response schema
   * (reply.serialize, as reply.send(object) would), or the text kept from an earlier request
   * for the same `ctx` and `version`.
   */
  send(reply: FastifyReply, ctx: Owner, version: number | null, present: () => object): FastifyReply {
    const kept = this.texts.get(ctx);
    if (kept !== undefined && kept.version === version) return reply.type(JSON_TYPE).send(kept.text);
    // Response-schema serialisers (fast-json-stringify) return strings; the type allows buffers.
    const text = reply.serialize(present()) as string;
    this.texts.set(ctx, { version, text });
    return reply.type(JSON_TYPE).send(text);
  }
}
