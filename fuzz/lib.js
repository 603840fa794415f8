// Shared checks of the fuzz targets. Targets import the built code (../dist): run `npm run build` first.

const FOREIGN = [TypeError, RangeError, ReferenceError, SyntaxError, EvalError, URIError];

/**
 * A parser handed bad bytes may refuse them with an error of its own: a plain Error it raised,
 * one of the project's Error subclasses (CriError, UsageError, SpdyCapError...), or one of `own`.
 * A TypeError, RangeError and the like, a Node ERR_* code (a Buffer read past its end...), or a
 * thrown non-Error mean the input reached code that never expected it: that is a finding.
 */
export function expectOwnError(err, ...own) {
  if (own.some((cls) => err instanceof cls)) return;
  const foreign = !(err instanceof Error) || FOREIGN.some((cls) => err instanceof cls) || /^ERR_/.test(String(err.code ?? ''));
  if (foreign) throw err;
}

/**
 * Runs `fn`; a foreign error (see expectOwnError) propagates; returns undefined when `fn` refused.
 * A parser that answers with a promise gets the same treatment of its rejection.
 */
export function parseOrRefuse(fn, ...own) {
  const refused = (err) => {
    expectOwnError(err, ...own);
    return undefined;
  };
  try {
    const out = fn();
    return out instanceof Promise ? out.catch(refused) : out;
  } catch (err) {
    return refused(err);
  }
}

/**
 * Cuts `bytes` into socket-read-sized pieces: each size byte n reads n bytes (0 = the rest at
 * once), cycling; no size bytes = one read.
 */
export function* chunks(bytes, sizes) {
  for (let off = 0, i = 0; off < bytes.length; i++) {
    const n = sizes.length && sizes[i % sizes.length] ? sizes[i % sizes.length] : bytes.length;
    yield bytes.subarray(off, off + n);
    off += n;
  }
}

export function assert(cond, message) {
  if (!cond) throw new Error(`property violated: ${message}`);
}

export function assertEqual(actual, expected, what) {
  const a = String(JSON.stringify(actual));
  const e = String(JSON.stringify(expected));
  if (a !== e) throw new Error(`property violated: ${what}\n  got:      ${a.slice(0, 500)}\n  expected: ${e.slice(0, 500)}`);
}

/**
 * Collects what escapes to the process (uncaught exceptions, unhandled rejections) while one
 * input runs, so it is reported as that input's finding instead of taking the fuzzer down
 * later under another input.
 */
export class EscapeWatch {
  constructor() {
    this.escaped = [];
    const record = (err) => this.escaped.push(err);
    process.on('uncaughtException', record);
    process.on('unhandledRejection', record);
  }

  /** Throws the first error that escaped since the last check. */
  check(what) {
    const [first] = this.escaped;
    this.escaped = [];
    if (first !== undefined) {
      const err = first instanceof Error ? first : new Error(String(first));
      err.message = `escaped to the process during ${what}: ${err.message}`;
      throw err;
    }
  }
}

/** Lets queued callbacks, promise jobs and stream events run. */
export async function settle(rounds = 3) {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}
