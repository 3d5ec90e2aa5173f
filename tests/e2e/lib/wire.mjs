// What a strict stdio MCP server sees on its stdin, for the boundary property test
// (boundary_property.test.mjs) and its spy server (fixtures/spy_server.mjs).
//
// Line splitting is the strictest a real server could do: LF, a lone CR and CRLF all end a
// line, as Python's universal newlines do (the MCP Python SDK reads stdin that way), so one
// message that reaches a server with a raw CR or LF in it becomes several.
// Parsing is RFC 8259 with nothing tolerated (UTF-8 must be valid, no trailing commas, no
// NaN, no raw control characters in strings), keeps the byte span of every value, and
// reports every object that repeats a member name (compared after unescaping, so "a" and
// "\u0061" are the same name). Values are read first-wins, the reading a governance layer
// that keeps the last copy would not see.

// ------------------------------------------------------------------------ line splitting

// Splits a stream into lines as it arrives. push(chunk) returns the complete lines (Buffers,
// without their terminator); end() returns the unterminated rest, if any.
export class LineSplitter {
  constructor() {
    this.pending = Buffer.alloc(0);
    this.skipLf = false; // the previous chunk ended with CR: an LF first in the next is its pair
  }
  push(chunk) {
    let buf = chunk;
    if (this.skipLf && buf.length > 0) {
      if (buf[0] === 0x0a) buf = buf.subarray(1);
      this.skipLf = false;
    }
    buf = this.pending.length ? Buffer.concat([this.pending, buf]) : buf;
    const lines = [];
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      const c = buf[i];
      if (c !== 0x0a && c !== 0x0d) continue;
      lines.push(Buffer.from(buf.subarray(start, i)));
      if (c === 0x0d) {
        if (i + 1 < buf.length) {
          if (buf[i + 1] === 0x0a) i++;
        } else {
          this.skipLf = true;
        }
      }
      start = i + 1;
    }
    this.pending = Buffer.from(buf.subarray(start));
    return lines;
  }
  end() {
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    return rest.length ? [rest] : [];
  }
}

// All lines of a complete recording (the unterminated tail counts as a line, as it does for
// a server reading until EOF).
export function splitUniversal(buf) {
  const s = new LineSplitter();
  return [...s.push(buf), ...s.end()];
}

// ------------------------------------------------------------------------ strict JSON

const utf8 = new TextDecoder('utf-8', { fatal: true });
const MAX_DEPTH = 1000;

class JsonError extends Error {
  constructor(message, at) {
    super(`${message} at byte ${at}`);
    this.at = at;
  }
}

// Parses `buf` (a Buffer holding exactly one JSON text, whitespace around it allowed).
// Returns { ok: true, node, dups } or { ok: false, error }. Nodes:
//   { type: 'object', start, end, members: [{ name, value }] }
//   { type: 'array', start, end, items }
//   { type: 'string', start, end, value }       (value unescaped)
//   { type: 'number' | 'true' | 'false' | 'null', start, end, raw }
// `dups` lists every repeated member name as a path, e.g. "$.params.arguments.a".
export function parseStrict(buf) {
  try {
    utf8.decode(buf);
  } catch {
    return { ok: false, error: 'invalid UTF-8' };
  }
  const p = new Parser(buf);
  try {
    p.ws();
    const node = p.value(0, '$');
    p.ws();
    if (p.i !== buf.length) throw new JsonError('trailing bytes', p.i);
    return { ok: true, node, dups: p.dups };
  } catch (e) {
    if (e instanceof JsonError) return { ok: false, error: e.message };
    throw e;
  }
}

class Parser {
  constructor(buf) {
    this.b = buf;
    this.i = 0;
    this.dups = [];
  }
  ws() {
    const b = this.b;
    while (this.i < b.length) {
      const c = b[this.i];
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++;
      else break;
    }
  }
  value(depth, path) {
    if (depth > MAX_DEPTH) throw new JsonError('nesting too deep', this.i);
    const c = this.b[this.i];
    if (c === 0x7b) return this.object(depth, path);
    if (c === 0x5b) return this.array(depth, path);
    if (c === 0x22) return this.string();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    for (const lit of ['true', 'false', 'null']) {
      if (this.b.toString('latin1', this.i, this.i + lit.length) === lit) {
        const start = this.i;
        this.i += lit.length;
        return { type: lit, start, end: this.i, raw: lit };
      }
    }
    throw new JsonError(c === undefined ? 'unexpected end' : 'unexpected byte', this.i);
  }
  object(depth, path) {
    const start = this.i++;
    const members = [];
    const seen = new Set();
    this.ws();
    if (this.b[this.i] === 0x7d) {
      this.i++;
      return { type: 'object', start, end: this.i, members };
    }
    for (;;) {
      this.ws();
      if (this.b[this.i] !== 0x22) throw new JsonError('expected a member name', this.i);
      const key = this.string();
      if (seen.has(key.value)) this.dups.push(`${path}.${key.value}`);
      seen.add(key.value);
      this.ws();
      if (this.b[this.i] !== 0x3a) throw new JsonError("expected ':'", this.i);
      this.i++;
      this.ws();
      const value = this.value(depth + 1, `${path}.${key.value}`);
      members.push({ name: key.value, value });
      this.ws();
      const c = this.b[this.i++];
      if (c === 0x7d) return { type: 'object', start, end: this.i, members };
      if (c !== 0x2c) throw new JsonError("expected ',' or '}'", this.i - 1);
    }
  }
  array(depth, path) {
    const start = this.i++;
    const items = [];
    this.ws();
    if (this.b[this.i] === 0x5d) {
      this.i++;
      return { type: 'array', start, end: this.i, items };
    }
    for (;;) {
      this.ws();
      items.push(this.value(depth + 1, `${path}[${items.length}]`));
      this.ws();
      const c = this.b[this.i++];
      if (c === 0x5d) return { type: 'array', start, end: this.i, items };
      if (c !== 0x2c) throw new JsonError("expected ',' or ']'", this.i - 1);
    }
  }
  string() {
    const b = this.b;
    const start = this.i++;
    let out = '';
    let run = this.i;
    for (;;) {
      if (this.i >= b.length) throw new JsonError('unterminated string', start);
      const c = b[this.i];
      if (c === 0x22) {
        out += b.toString('utf8', run, this.i);
        this.i++;
        return { type: 'string', start, end: this.i, value: out };
      }
      if (c < 0x20) throw new JsonError('raw control character in a string', this.i);
      if (c !== 0x5c) {
        this.i++;
        continue;
      }
      out += b.toString('utf8', run, this.i);
      const e = b[this.i + 1];
      const simple = { 0x22: '"', 0x5c: '\\', 0x2f: '/', 0x62: '\b', 0x66: '\f', 0x6e: '\n', 0x72: '\r', 0x74: '\t' };
      if (simple[e] !== undefined) {
        out += simple[e];
        this.i += 2;
      } else if (e === 0x75) {
        const hex = b.toString('latin1', this.i + 2, this.i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new JsonError('bad \\u escape', this.i);
        out += String.fromCharCode(parseInt(hex, 16));
        this.i += 6;
      } else {
        throw new JsonError('bad escape', this.i);
      }
      run = this.i;
    }
  }
  number() {
    const start = this.i;
    const rest = this.b.toString('latin1', start, Math.min(this.b.length, start + 400));
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(rest);
    if (!m) throw new JsonError('bad number', start);
    this.i += m[0].length;
    return { type: 'number', start, end: this.i, raw: m[0] };
  }
}

// ------------------------------------------------------------------------ node helpers

// The first member named `name` of an object node (first-wins), or undefined.
export function member(node, name) {
  if (!node || node.type !== 'object') return undefined;
  return node.members.find((m) => m.name === name)?.value;
}

export function memberPath(node, ...names) {
  let n = node;
  for (const name of names) n = member(n, name);
  return n;
}

export function rawOf(buf, node) {
  return buf.subarray(node.start, node.end);
}

// A plain JS value (first-wins; numbers as JavaScript reads them).
export function toValue(node) {
  switch (node.type) {
    case 'object': {
      const o = {};
      for (const m of node.members) if (!Object.hasOwn(o, m.name)) o[m.name] = toValue(m.value);
      return o;
    }
    case 'array':
      return node.items.map(toValue);
    case 'string':
      return node.value;
    case 'number':
      return Number(node.raw);
    case 'true':
      return true;
    case 'false':
      return false;
    default:
      return null;
  }
}

// The messages in a parsed line: the object itself, or the elements of a batch.
export function messagesOf(node) {
  return node.type === 'array' ? node.items : [node];
}

// An id as a comparable key: strings by their value, numbers by their exact text.
export function idKey(node) {
  if (!node) return 'absent';
  if (node.type === 'string') return `s:${node.value}`;
  if (node.type === 'number') return `n:${node.raw}`;
  return `${node.type}`;
}

// ------------------------------------------------------------------------ the spy's answers

// What the spy server answers to a tools/call, from the exact bytes of its id and arguments.
// The test recomputes it from the recording to check the result records.
export function spyCallResult(argsRaw, idRaw) {
  return {
    content: [{ type: 'text', text: argsRaw }],
    _meta: { 'spy/id': idRaw },
  };
}

export const SPY_TOOLS = [
  { name: 'echo', description: 'answers with the raw arguments it received', inputSchema: { type: 'object' } },
  { name: 'wait', description: 'like echo, after arguments.ms milliseconds (at most 3000)', inputSchema: { type: 'object' } },
];
