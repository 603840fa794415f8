// SPDY/3.1 framing as a peer sends it: the frame splitter (however the bytes are cut into
// socket reads), the SETTINGS payload and the uncompressed header block.
// Properties: the frames are those of a plain walk over the bytes (header, 24-bit length,
// payload), whatever the chunking and at two frame caps (the real one and a small one, so that
// short inputs reach the cap): a data frame past the cap is reported as 'oversized-data' with
// its length and its payload skipped, a control frame past the cap stops the parse with
// SpdyCapError naming MAX_SPDY_FRAME_BYTES, and the frames before it are still handed on.
// Header blocks decode or are refused with the parser's own error, and what decodes survives
// encode -> decode unchanged; no foreign error (TypeError, RangeError) anywhere.
import { MAX_SPDY_FRAME_BYTES } from '../dist/streaming/limits.js';
import { FrameParser, SpdyCapError, decodeHeaderBlock, encodeHeaderBlock, parseSettings } from '../dist/streaming/spdy/frames.js';
import { assert, assertEqual, chunks, expectOwnError, parseOrRefuse } from './lib.js';

const SMALL_CAP = 64;

const describe = (f) => {
  if (f.kind === 'oversized-data') return ['o', f.streamId, f.length];
  if (f.kind === 'data') return ['d', f.streamId, f.flags, f.data.toString('hex')];
  return ['c', f.type, f.flags, f.payload.toString('hex')];
};

/** The frames a walk over `bytes` finds at frame cap `cap`, and whether a control frame past it ends the walk. */
function walk(bytes, cap) {
  const frames = [];
  let off = 0;
  while (bytes.length - off >= 8) {
    const control = (bytes[off] & 0x80) !== 0;
    const length = bytes.readUInt32BE(off + 4) & 0xffffff;
    if (length > cap) {
      if (control) return { frames, refused: true };
      frames.push(['o', bytes.readUInt32BE(off) & 0x7fffffff, length]);
    } else {
      if (bytes.length - off < 8 + length) break;
      const payload = bytes.subarray(off + 8, off + 8 + length).toString('hex');
      frames.push(control ? ['c', bytes.readUInt16BE(off + 2), bytes[off + 4], payload] : ['d', bytes.readUInt32BE(off) & 0x7fffffff, bytes[off + 4], payload]);
    }
    off += 8 + length;
  }
  return { frames, refused: false };
}

/** Feeds `pieces` to a parser at cap `cap`: the frames it handed on, and the cap error if it refused. */
function parse(pieces, cap) {
  const parser = new FrameParser(cap);
  const frames = [];
  try {
    for (const c of pieces) parser.push(c, (f) => frames.push(f));
  } catch (err) {
    expectOwnError(err);
    assert(err instanceof SpdyCapError && err.cap === 'MAX_SPDY_FRAME_BYTES', `only the frame cap refuses bytes, not: ${err}`);
    return { frames, refused: true };
  }
  return { frames, refused: false };
}

// Input: two bytes of read sizes (see chunks), then the bytes a peer sends after the upgrade.
export function fuzz(data) {
  const cuts = [...data.subarray(0, 2)];
  const bytes = data.subarray(2);

  for (const cap of [MAX_SPDY_FRAME_BYTES, SMALL_CAP]) {
    const expected = walk(bytes, cap);
    const whole = parse([bytes], cap);
    const pieces = parse(chunks(bytes, cuts), cap);
    assertEqual(whole.frames.map(describe), expected.frames, `frames in one read are the walk's (cap ${cap})`);
    assertEqual(pieces.frames.map(describe), expected.frames, `frames do not depend on how the bytes were chunked (cap ${cap})`);
    assert(whole.refused === expected.refused && pieces.refused === expected.refused, `a control frame past the cap is refused, and only then (cap ${cap})`);
    for (const f of whole.frames) {
      if (f.kind === 'control' && f.type === 4) parseOrRefuse(() => parseSettings(f.payload));
    }
  }
  parseOrRefuse(() => parseSettings(bytes));

  const headers = parseOrRefuse(() => decodeHeaderBlock(bytes));
  if (headers) {
    const again = decodeHeaderBlock(encodeHeaderBlock(headers));
    assertEqual([...again], [...headers], 'decode(encode(headers)) == headers');
  }
}
