// SPDY/3.1 framing as a peer sends it: the frame splitter (however the bytes are cut into
// socket reads), the SETTINGS payload and the uncompressed header block.
// Properties: the same frames whatever the chunking; every byte is in a frame or the held
// tail; header blocks decode or are refused with the parser's own error, and what decodes
// survives encode -> decode unchanged; no foreign error (TypeError, RangeError) anywhere.
import { FrameParser, decodeHeaderBlock, encodeHeaderBlock, parseSettings } from '../dist/streaming/spdy/frames.js';
import { assert, assertEqual, chunks, parseOrRefuse } from './lib.js';

const summary = (frames) =>
  frames.map((f) => (f.kind === 'data' ? ['d', f.streamId, f.flags, f.data.toString('hex')] : ['c', f.type, f.flags, f.payload.toString('hex')]));

// Input: two bytes of read sizes (see chunks), then the bytes a peer sends after the upgrade.
export function fuzz(data) {
  const cuts = [...data.subarray(0, 2)];
  const bytes = data.subarray(2);

  const whole = [];
  new FrameParser().push(bytes, (f) => whole.push(f));
  const parser = new FrameParser();
  const pieces = [];
  for (const c of chunks(bytes, cuts)) parser.push(c, (f) => pieces.push(f));
  assertEqual(summary(pieces), summary(whole), 'frames do not depend on how the bytes were chunked');
  const framed = whole.reduce((sum, f) => sum + 8 + (f.kind === 'data' ? f.data.length : f.payload.length), 0);
  assert(framed <= bytes.length && bytes.length - framed < 8 + 0x1000000, 'frames plus the held tail are the input');

  for (const f of whole) {
    if (f.kind !== 'control') continue;
    if (f.type === 4) parseOrRefuse(() => parseSettings(f.payload));
  }
  parseOrRefuse(() => parseSettings(bytes));

  const headers = parseOrRefuse(() => decodeHeaderBlock(bytes));
  if (headers) {
    const again = decodeHeaderBlock(encodeHeaderBlock(headers));
    assertEqual([...again], [...headers], 'decode(encode(headers)) == headers');
  }
}
