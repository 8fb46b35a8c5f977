// Summaries of a V8 .cpuprofile (node --cpu-prof): self time by function and by package/file,
// as a share of the samples and, given the requests served while profiling, in µs per request.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileItem {
  name: string;
  ms: number;
}

export interface ProfileSummary {
  totalMs: number;
  places: ProfileItem[];
  functions: ProfileItem[];
}

function where(url: string): string {
  if (url === '') return '(native/V8)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) return url.slice(nm + 13).split('/').slice(0, url.slice(nm + 13).startsWith('@') ? 2 : 1).join('/');
  if (url.startsWith('node:')) return url;
  const src = url.indexOf('/src/');
  return src !== -1 ? url.slice(src + 1) : url;
}

export function summarizeProfile(file: string): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfMs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  const functions = new Map<string, number>();
  const places = new Map<string, number>();
  for (const [id, ms] of selfMs) {
    const node = byId.get(id)!;
    const place = where(node.callFrame.url);
    const name = `${node.callFrame.functionName || '(anonymous)'} ${place}:${node.callFrame.lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + ms);
    places.set(place, (places.get(place) ?? 0) + ms);
  }
  const sorted = (map: Map<string, number>) => [...map].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms);
  return { totalMs: [...selfMs.values()].reduce((a, b) => a + b, 0), places: sorted(places), functions: sorted(functions) };
}

/** Lines of "share  [µs / request]  item" for the top items. */
export function profileLines(summary: ProfileSummary, items: ProfileItem[], top: number, requests?: number): string[] {
  return items.slice(0, top).map((item) => {
    const share = `${((100 * item.ms) / summary.totalMs).toFixed(1).padStart(5)}%`;
    return requests ? `${share} ${((item.ms * 1000) / requests).toFixed(2).padStart(7)} µs/req  ${item.name}` : `${share}  ${item.name}`;
  });
}
