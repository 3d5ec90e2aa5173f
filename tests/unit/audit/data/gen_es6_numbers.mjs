// Regenerates es6_numbers.txt: node gen_es6_numbers.mjs > es6_numbers.txt (deterministic seed).
// Writes "<16 hex bits> <ECMAScript String(x)>" for a seeded mix of doubles.
let s = 0x9e3779b97f4a7c15n;
function next() { s ^= s << 13n; s &= (1n<<64n)-1n; s ^= s >> 7n; s ^= s << 17n; s &= (1n<<64n)-1n; return s; }
const buf = new DataView(new ArrayBuffer(8));
const lines = [];
function emit(x) { if (!Number.isFinite(x)) return; buf.setFloat64(0, x); const h = buf.getBigUint64(0).toString(16).padStart(16, '0'); lines.push(h + ' ' + String(x)); }
for (let i = 0; i < 3000; i++) { const b = next(); buf.setBigUint64(0, b); const x = buf.getFloat64(0); if (Number.isFinite(x)) emit(x); }
for (let i = 0; i < 1000; i++) { const m = Number(next() % 10000000n); const e = Number(next() % 60n) - 30; emit(m * Math.pow(10, e)); }
for (let i = 0; i < 500; i++) { emit(Number(next() % 100000n) / 1000); }
for (let e = -330; e <= 310; e += 7) { emit(Number('1e' + e)); emit(Number('123456789e' + e)); }
console.log(lines.join('\n'));
