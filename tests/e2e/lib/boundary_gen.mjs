// The seeded traffic generator of the boundary property test (boundary_property.test.mjs).
//
// A message is built as a small JSON syntax tree (objects keep their members in order and
// may repeat a name), then written out with mutations: whitespace (space, tab, CR and, over
// HTTP, LF) anywhere JSON allows it, \uXXXX and \/ escapes in any string including member
// names, a complete tools/call smuggled as a member value between raw line breaks, repeated
// member names at any depth, raw control characters inside strings, odd ids, odd method
// spellings, request methods without an id, batches and reused ids. Every message carries a
// unique marker (params._meta["gt-test/m"], or result["gt-test/m"] for a response), so the
// test can tell exactly which generated messages reached the server.
//
// Each message comes with what the rules of README "What reaches the server" say must
// happen to it: `forward` (the server gets it once), `refuse` (a JSON-RPC error with `code`,
// or HTTP 400, and the server never gets it), `maybe` (a stray response or notification a
// proxy may drop), `never` (the smuggled payload: no server may ever see it as a message).

// ------------------------------------------------------------------------ random numbers

export class Rng {
  constructor(seed) {
    this.s = seed >>> 0;
  }
  // mulberry32
  next() {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n) {
    return Math.floor(this.next() * n);
  }
  chance(p) {
    return this.next() < p;
  }
  pick(a) {
    return a[this.int(a.length)];
  }
  // Picks a key of `weights` ({key: weight}) in proportion to its weight.
  weighted(weights) {
    const total = Object.values(weights).reduce((a, b) => a + b, 0);
    let r = this.next() * total;
    for (const [k, w] of Object.entries(weights)) {
      r -= w;
      if (r < 0) return k;
    }
    return Object.keys(weights).at(-1);
  }
  shuffle(a) {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

// ------------------------------------------------------------------------ syntax trees

export const obj = (...members) => ({ t: 'obj', m: members });
export const arr = (...items) => ({ t: 'arr', v: items });
export const str = (s) => ({ t: 'str', s });
export const num = (raw) => ({ t: 'num', raw: String(raw) });
export const lit = (raw) => ({ t: 'lit', raw });
// A string with a raw (unescaped) control character in it: not JSON.
const badStr = (s, ch) => ({ t: 'badstr', s, ch });
// A member value written as <sep> compact(inner) <sep>: a whole message on a line of its own
// for any server that splits lines at those bytes.
const smuggle = (inner, sep) => ({ t: 'smuggle', inner, sep });

const get = (o, name) => o.m.find(([n]) => n === name)?.[1];

// Writes a tree. opts: ws() → whitespace to put between tokens; esc (probability of
// escaping each character of a string); rng.
export function write(node, opts) {
  const ws = opts.ws;
  switch (node.t) {
    case 'obj':
      if (!node.m.length) return `{${ws()}}`;
      return `{${node.m.map(([k, v]) => `${ws()}${writeString(k, opts)}${ws()}:${ws()}${write(v, opts)}${ws()}`).join(',')}}`;
    case 'arr':
      if (!node.v.length) return `[${ws()}]`;
      return `[${node.v.map((v) => `${ws()}${write(v, opts)}${ws()}`).join(',')}]`;
    case 'str':
      return writeString(node.s, opts);
    case 'badstr': {
      const at = opts.rng.int(node.s.length + 1);
      return `"${node.s.slice(0, at)}${node.ch}${node.s.slice(at)}"`;
    }
    case 'num':
    case 'lit':
      return node.raw;
    case 'smuggle':
      return `${node.sep}${write(node.inner, { ...opts, ws: () => '', esc: 0 })}${node.sep}`;
    default:
      throw new Error(`unknown node ${node.t}`);
  }
}

function hex4(code, rng) {
  const h = code.toString(16).padStart(4, '0');
  return rng.chance(0.5) ? h : h.toUpperCase();
}

function writeString(s, { esc, rng }) {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0);
    if (ch === '"' || ch === '\\') {
      out += rng.chance(esc) ? `\\u${hex4(cp, rng)}` : `\\${ch}`;
    } else if (cp < 0x20) {
      const short = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' }[ch];
      out += short && !rng.chance(esc) ? short : `\\u${hex4(cp, rng)}`;
    } else if (rng.chance(esc)) {
      if (ch === '/' && rng.chance(0.5)) out += '\\/';
      else if (cp > 0xffff) out += [...Array.from({ length: 2 }, (_, i) => `\\u${hex4(ch.charCodeAt(i), rng)}`)].join('');
      else out += `\\u${hex4(cp, rng)}`;
    } else {
      out += ch;
    }
  }
  return `${out}"`;
}

// ------------------------------------------------------------------------ the generator

const NAMES = ['a', 'b', 'x', 'nested', 'k/1', 'é', 'A', '~0', 'list', 'deep'];
const STRINGS = ['ok', 'hello', '', ' spaced ', 'tab\there', 'line\nbreak', 'cr\rret', 'quote"q', 'back\\slash',
  'é', '中文', '😀', 'a/b', 'evil?', 'EVIL', '\u2028'];
const NUMBERS = ['0', '-0', '1', '1.0', '1e2', '1E+2', '-1.5e-3', '0.1', '9007199254740993',
  '123456789012345678901234567890', '-42'];
const GOOD_NOTIFICATIONS = ['notifications/roots/list_changed', 'notifications/x-test/ignored'];
const UNKNOWN_METHODS = ['tools/calls', 'x-test/unknown', 'resources/list', 'tool/call'];
// Spellings that must never be forwarded (-32601): near misses of MCP methods, and methods
// with bytes outside printable ASCII.
const ODD_METHODS = ['Tools/Call', 'TOOLS/CALL', 'tools/Call', ' tools/call', 'tools/call ', 'tools/call\n',
  'tools/call\r', '\ttools/call', 'tools/call\u0000', 'tools/call\u00a0', 'tools\u2215call', 'Ping',
  'Tools/List', 'tools/call\u200b'];
const BAD_IDS = ['null', '1.0', '1e0', '-0', '9007199254740992', '9007199254740993', '1.5', 'true', '{}', '[]',
  '"glasstape:list:1"', '-9007199254740992'];

// One generator per client session. opts: front ('stdio' | 'http'), rng, tag (unique per
// session, in every marker), sharing ('isolated' | 'shared' | undefined).
export class Generator {
  constructor({ front, rng, tag, sharing }) {
    this.front = front;
    this.rng = rng;
    this.tag = tag;
    this.sharing = sharing;
    this.nextId = 1;
    this.nextNonce = 1;
    this.nextMarker = 1;
  }

  marker() {
    return `${this.tag}-m${this.nextMarker++}`;
  }
  freshId() {
    const r = this.rng;
    const n = this.nextId++;
    // Numbers and strings, sometimes written with escapes: all valid ids.
    return r.chance(0.6) ? { node: num(n), key: `n:${n}` } : { node: str(`id-${n}`), key: `s:id-${n}` };
  }

  // Writing options for one message: how much whitespace, which bytes, how many escapes.
  style() {
    const r = this.rng;
    const chars = this.front === 'http' ? [' ', '\t', '\r', '\n', '\r\n'] : [' ', '\t', '\r'];
    const pWs = r.pick([0, 0, 0.1, 0.4, 0.9]);
    const esc = r.pick([0, 0, 0.05, 0.3]);
    return {
      rng: r,
      esc,
      ws: () => {
        if (!r.chance(pWs)) return '';
        let s = '';
        for (let k = 1 + r.int(3); k > 0; k--) s += r.pick(chars);
        return s;
      },
    };
  }
  lineBreak() {
    return this.front === 'http' ? this.rng.pick(['\n', '\r', '\r\n']) : '\r';
  }

  randomValue(depth) {
    const r = this.rng;
    const kind = depth > 2 ? r.pick(['s', 'n', 'l']) : r.pick(['s', 's', 'n', 'n', 'l', 'o', 'a']);
    if (kind === 's') return str(r.pick(STRINGS));
    if (kind === 'n') return num(r.pick(NUMBERS));
    if (kind === 'l') return lit(r.pick(['true', 'false', 'null']));
    if (kind === 'a') return arr(...Array.from({ length: r.int(4) }, () => this.randomValue(depth + 1)));
    const names = r.shuffle([...NAMES]).slice(0, r.int(4));
    return obj(...names.map((n) => [n, this.randomValue(depth + 1)]));
  }

  // The arguments of a call: a unique nonce `n`, sometimes a message (sometimes `evil`, which
  // the test's policy denies), and random members.
  args(tool, deny) {
    const r = this.rng;
    const m = [['n', num(this.nextNonce++)]];
    if (tool === 'wait') m.push(['ms', num(r.pick([0, 5, 20]))]);
    if (deny) m.push(['message', str('evil')]);
    else if (r.chance(0.5)) m.push(['message', str(r.pick(['ok', 'hello', 'evil!', 'EVIL', 'not evil']))]);
    for (const name of r.shuffle([...NAMES]).slice(0, r.int(4))) m.push([name, this.randomValue(1)]);
    r.shuffle(m);
    return obj(...m);
  }

  // A request: {jsonrpc, id, method, params} in a random order; params carry the marker.
  request(method, params, id) {
    const marker = this.marker();
    const p = params ?? obj();
    p.m.push(['_meta', obj(['gt-test/m', str(marker)])]);
    if (this.rng.chance(0.3)) this.rng.shuffle(p.m);
    const m = [['jsonrpc', str('2.0')], ['method', str(method)], ['params', p]];
    if (id) m.push(['id', id]);
    if (this.rng.chance(0.4)) this.rng.shuffle(m);
    return { ast: obj(...m), marker };
  }

  // A tools/call the policy allows (echo, wait) or denies (echo with message "evil", or a
  // tool no policy governs).
  toolsCall(opts = {}) {
    const r = this.rng;
    const tool = opts.tool ?? r.weighted({ echo: 8, wait: 1, unlisted_tool: 0.3 });
    const deny = opts.deny ?? (tool === 'unlisted_tool' ? true : r.chance(0.25));
    const id = opts.id ?? this.freshId();
    const params = obj(['name', str(tool)]);
    const argsAbsent = !opts.forceArgs && r.chance(0.06) && tool !== 'unlisted_tool';
    if (!argsAbsent || deny) params.m.push(['arguments', this.args(tool, deny && tool !== 'unlisted_tool')]);
    const { ast, marker } = this.request('tools/call', params, id.node);
    return {
      ast,
      meta: { marker, outcome: 'forward', id: id.key, kind: 'request', method: 'tools/call', tool,
        deny: deny || tool === 'unlisted_tool' },
    };
  }

  ping() {
    const id = this.freshId();
    const { ast, marker } = this.request('ping', null, id.node);
    return { ast, meta: { marker, outcome: 'forward', id: id.key, kind: 'request', method: 'ping' } };
  }
  unknownRequest() {
    const id = this.freshId();
    const method = this.rng.pick(UNKNOWN_METHODS);
    const { ast, marker } = this.request(method, null, id.node);
    return { ast, meta: { marker, outcome: 'forward', id: id.key, kind: 'request', method, serverError: true } };
  }
  toolsList() {
    const id = this.freshId();
    const { ast, marker } = this.request('tools/list', null, id.node);
    return { ast, meta: { marker, outcome: 'forward', id: id.key, kind: 'request', method: 'tools/list' } };
  }
  notification() {
    const method = this.rng.pick(GOOD_NOTIFICATIONS);
    const { ast, marker } = this.request(method, null, null);
    // A shared server has no per-session notifications: the proxy may keep them.
    return { ast, meta: { marker, outcome: this.sharing === 'shared' ? 'maybe' : 'forward', kind: 'notification', method } };
  }
  // The client answering a server request nobody sent: a proxy may pass or drop it.
  strayResponse() {
    const marker = this.marker();
    const ast = obj(['jsonrpc', str('2.0')], ['id', str(`stray-${marker}`)], ['result', obj(['gt-test/m', str(marker)])]);
    return { ast, meta: { marker, outcome: 'maybe', kind: 'response' } };
  }

  // A message any rule refuses, and the JSON-RPC error code the rule gives.
  refused() {
    const r = this.rng;
    const what = r.weighted({ dup: 5, badId: 2, oddMethod: 2, notifRequest: 2, malformed: 2, methodAndResult: 1 });
    if (what === 'dup') return this.withDuplicate();
    if (what === 'badId') {
      const base = r.chance(0.7) ? this.toolsCall() : this.ping();
      const raw = r.pick(BAD_IDS);
      setMember(base.ast, 'id', raw.startsWith('"') ? str(JSON.parse(raw)) : num(raw));
      base.meta.idAny = true; // the proxy may answer with the id as it read it, or null
      return refuse(base, -32600, `bad id ${raw}`, 'either');
    }
    if (what === 'oddMethod') {
      const base = r.chance(0.8) ? this.toolsCall() : this.ping();
      const method = r.pick(ODD_METHODS);
      setMember(base.ast, 'method', str(method));
      return refuse(base, -32601, `odd method ${JSON.stringify(method)}`);
    }
    if (what === 'notifRequest') {
      const base = r.weighted({ call: 6, ping: 1, list: 1 });
      const m = base === 'call' ? this.toolsCall() : base === 'ping' ? this.ping() : this.toolsList();
      m.ast.m = m.ast.m.filter(([n]) => n !== 'id');
      m.meta.id = null;
      return refuse(m, -32600, `${m.meta.method} without an id`, 'null');
    }
    if (what === 'malformed') {
      const base = this.toolsCall();
      const ch = this.front === 'http' ? r.pick(['\n', '\r', '\t', '\u0001']) : r.pick(['\r', '\t', '\u0001']);
      const meta = get(get(base.ast, 'params'), '_meta');
      meta.m[0][1] = badStr(base.meta.marker, ch);
      return refuse(base, -32700, `raw ${JSON.stringify(ch)} inside a string`, 'either');
    }
    const base = this.ping();
    base.ast.m.push(['result', obj()]);
    return refuse(base, -32600, 'both method and result');
  }

  // A message with one repeated member name, at the top, in params, in the arguments or
  // deeper; the copies differ (one of them is what a first-wins server would act on).
  withDuplicate() {
    const r = this.rng;
    const where = r.weighted({ top: 1, params: 1, args: 3, nested: 3 });
    const base = this.toolsCall({ forceArgs: true, tool: r.chance(0.8) ? 'echo' : 'wait', deny: false });
    const params = get(base.ast, 'params');
    let target;
    let name;
    let copy;
    if (where === 'top') {
      target = base.ast;
      name = r.pick(['method', 'id', 'jsonrpc', 'params']);
      copy = { method: str('ping'), id: num(999999), jsonrpc: str('2.0'), params: obj(['name', str('echo')]) }[name];
    } else if (where === 'params') {
      target = params;
      name = r.pick(['name', 'arguments', '_meta']);
      copy = { name: str('wait'), arguments: obj(['message', str('evil')]), _meta: obj() }[name];
    } else {
      const args = get(params, 'arguments');
      if (where === 'args') {
        target = args;
      } else {
        target = obj(['message', str('ok')], ['z', num(1)]);
        let holder = args;
        for (let d = r.int(3); d > 0; d--) {
          const next = obj();
          holder.m.push([`lvl${d}`, r.chance(0.5) ? next : arr(next)]);
          holder = next;
        }
        holder.m.push(['deep', target]);
      }
      name = 'message';
      if (!get(target, 'message')) target.m.push(['message', str('ok')]);
      copy = str('evil');
    }
    if (name === 'id') base.meta.idAny = true;
    if (!get(target, name)) target.m.push([name, copy]);
    const at = r.int(target.m.length + 1);
    target.m.splice(at, 0, [name, copy]);
    return refuse(base, -32600, `repeated \`${name}\` (${where})`, 'either');
  }

  // A message with a complete tools/call to `echo` with message "evil" smuggled in a member
  // value between raw line breaks (LF, CR or CRLF over HTTP; CR on stdio, where LF ends the
  // client's own line). A server that reads the forwarded bytes line by line would run it.
  withSmuggled(m) {
    const r = this.rng;
    const id = `smuggled-${this.tag}-${this.nextId++}`;
    const inner = obj(
      ['jsonrpc', str('2.0')],
      ['id', str(id)],
      ['method', str('tools/call')],
      ['params', obj(['name', str('echo')], ['arguments', obj(['message', str('evil')], ['n', num(this.nextNonce++)])],
        ['_meta', obj(['gt-test/m', str(`${id}-payload`)])])],
    );
    const holder = m.meta.method === 'tools/call' && r.chance(0.5)
      ? get(get(m.ast, 'params'), 'arguments') ?? get(m.ast, 'params')
      : r.chance(0.5) ? get(m.ast, 'params') : m.ast;
    const sep = this.lineBreak();
    holder.m.splice(r.int(holder.m.length + 1), 0, [`smuggle${r.int(10)}`, smuggle(inner, sep)]);
    m.meta.smuggled = `${id}-payload`;
    return m;
  }

  // One message of any kind, already mutated.
  any() {
    const r = this.rng;
    const k = r.weighted({ call: 10, refused: 6, ping: 1.5, unknown: 1, list: 0.5, note: 1, stray: 0.5 });
    let m;
    if (k === 'call') m = this.toolsCall();
    else if (k === 'refused') m = this.refused();
    else if (k === 'ping') m = this.ping();
    else if (k === 'unknown') m = this.unknownRequest();
    else if (k === 'list') m = this.toolsList();
    else if (k === 'note') m = this.notification();
    else m = this.strayResponse();
    if (m.meta.outcome !== 'refuse' && m.meta.kind !== 'response' && r.chance(0.25)) this.withSmuggled(m);
    return m;
  }

  // Serializes a message (or a batch of them) with this message's style.
  text(ast) {
    const opts = this.style();
    return `${opts.ws()}${write(ast, opts)}${opts.ws()}`;
  }

  // ---------------------------------------------------------------- steps
  //
  // A step is what the client sends at once: { kind, sends: [{ text, messages: [meta],
  // batch, malformed, emptyBatch, held, afterHeld, waitBefore }] } where each send is one
  // stdio line or one HTTP POST. Most steps are one message or one batch (`malformed`: an
  // element is not JSON, so the whole line or POST is one parse error). `reuse` steps send
  // two requests with the same id (by JSON-RPC value) while the first is in flight (the spy
  // holds its answer: `held` names the token), across two sends or in one batch; a send
  // marked `afterHeld` goes once the spy has the held call (if it was forwarded), and the
  // last send (`waitBefore`: once every other answer is in) is a ping that releases it.

  step() {
    const r = this.rng;
    const k = r.weighted({ single: 80, batch: 12, reuse: 7, empty: 1 });
    if (k === 'single') {
      const m = this.any();
      return { kind: 'single', sends: [{ text: this.text(m.ast), messages: [m.meta] }] };
    }
    if (k === 'batch') {
      const ms = Array.from({ length: 2 + r.int(3) }, () => this.any());
      // One element that is not JSON makes the whole line one parse error.
      const malformed = ms.some((m) => m.meta.code === -32700);
      return { kind: 'batch', sends: [{ text: this.text(arr(...ms.map((m) => m.ast))), messages: ms.map((m) => m.meta), batch: true, malformed }] };
    }
    if (k === 'empty') {
      return { kind: 'empty batch', sends: [{ text: this.text(arr()), messages: [], batch: true, emptyBatch: true }] };
    }
    return this.reuse();
  }

  reuse() {
    const r = this.rng;
    const n = this.nextId++;
    // [first id, second id, is the second refused as a reuse (or as a bad id)?]
    const pairs = [
      [num(n), num(n), 'reuse'],
      [str(`dup-${n}`), str(`dup-${n}`), 'reuse'], // written with different escapes, sometimes
      [num(n), num(`${n}.0`), 'badId'],
      [num(n), num(`${n}e0`), 'badId'],
      [num(n), str(String(n)), 'distinct'],
      [num('9007199254740993'), num('9007199254740992'), 'bothBad'],
    ];
    const [id1, id2, rel] = r.pick(pairs);
    const key1 = id1.t === 'str' ? `s:${id1.s}` : `n:${id1.raw}`;
    const key2 = id2.t === 'str' ? `s:${id2.s}` : `n:${id2.raw}`;
    // The first call stays in flight until the release ping: the server holds its answer.
    const token = `hold-${this.tag}-${n}`;
    const first = this.toolsCall({ tool: 'wait', deny: false, forceArgs: true, id: { node: id1, key: key1 } });
    setMember(get(get(first.ast, 'params'), 'arguments'), 'hold', str(token));
    first.meta.held = true;
    const second = r.chance(0.7) ? this.toolsCall({ id: { node: id2, key: key2 } }) : this.pingWithId(id2, key2);
    if (rel === 'bothBad') {
      refuse(first, -32600, 'id beyond 2^53', 'either');
      first.meta.idAny = true;
    }
    if (rel !== 'distinct') {
      refuse(second, -32600, rel === 'reuse' ? 'id reused while in flight' : 'bad id', 'either');
      second.meta.idAny = rel !== 'reuse';
    }
    // Sent once every answer but the held call's is in.
    const release = this.pingWithId(num(this.nextId++), `n:${this.nextId - 1}`, token);
    const releaseSend = { text: this.text(release.ast), messages: [release.meta], waitBefore: true, afterHeld: token };
    if (r.chance(0.4)) {
      const batch = { text: this.text(arr(first.ast, second.ast)), messages: [first.meta, second.meta], batch: true, held: token };
      return { kind: `reuse in batch (${rel})`, sends: [batch, releaseSend] };
    }
    return {
      kind: `reuse across messages (${rel})`,
      sends: [
        { text: this.text(first.ast), messages: [first.meta], held: token },
        { text: this.text(second.ast), messages: [second.meta], afterHeld: token },
        releaseSend,
      ],
    };
  }

  // A ping with this id; with `release`, it also tells the spy to answer the calls it holds
  // under that token.
  pingWithId(node, key, release) {
    const { ast, marker } = this.request('ping', null, node);
    if (release) get(get(ast, 'params'), '_meta').m.push(['spy/release', str(release)]);
    return { ast, meta: { marker, outcome: 'forward', id: key, kind: 'request', method: 'ping' } };
  }
}

function setMember(o, name, value) {
  const i = o.m.findIndex(([n]) => n === name);
  if (i >= 0) o.m[i][1] = value;
  else o.m.push([name, value]);
}

// Marks a generated message as one the rules refuse. idInError: 'exact' (the error carries
// the request's id), 'null', or 'either' (null, or the id when the proxy could recover it).
function refuse(m, code, why, idInError = 'exact') {
  m.meta.outcome = 'refuse';
  m.meta.code = code;
  m.meta.why = why;
  m.meta.idInError = idInError;
  return m;
}

// A message shown in one line: control characters and non-ASCII escaped.
export function show(text, max = 600) {
  const s = JSON.stringify(String(text));
  return s.length > max ? `${s.slice(0, max)}…(${s.length} chars)` : s;
}
