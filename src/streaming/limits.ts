// Every bound the streaming server puts on what a peer can make it hold: one place, so that the
// README, the errors peers get and the logs name the same caps. Each one says why it is that size.

/** SPDY frames we accept: clients send data in io.Copy's 32 KiB chunks and headers of a few hundred bytes; 1 MiB is Go's HTTP/2 read limit, far below SPDY's 16 MiB length field. */
export const MAX_SPDY_FRAME_BYTES = 1024 * 1024;
/** Inflated SPDY header block: Kubernetes stream headers are under 1 KiB; 256 KiB is where HTTP servers cap header lists, and inflating stops there. */
export const MAX_SPDY_HEADER_BLOCK_BYTES = 256 * 1024;
/** Streams open at once in one SPDY session: exec needs 5; port forward 2 per connection, within MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION plus pairs being opened. */
export const MAX_SPDY_STREAMS_PER_SESSION = 160;
/** Inbound bytes buffered on one SPDY stream before the socket stops being read (Go clients ignore SPDY windows). */
export const MAX_SPDY_STREAM_BUFFER_BYTES = 1024 * 1024;
/** Inbound bytes buffered across one SPDY session's streams before the socket stops being read. */
export const MAX_SPDY_SESSION_BUFFER_BYTES = 4 * 1024 * 1024;
/** Parsed SPDY frames waiting their turn (header blocks inflate asynchronously) before the socket stops being read. */
export const MAX_SPDY_PENDING_FRAME_BYTES = 1024 * 1024;
/** Bytes we wrote that a peer leaves unread before we stop reading its requests for more. */
export const MAX_OUTBOUND_BUFFER_BYTES = 1024 * 1024;
/** Control frames (pongs, resets, window updates) a peer leaves unread: counted in frames, as each small write costs some 300 bytes. */
export const MAX_UNREAD_REPLIES = 1024;

/** One WebSocket message (ws maxPayload, default 100 MiB): clients send stdin and port data in 32 KiB reads. */
export const MAX_WEBSOCKET_MESSAGE_BYTES = 1024 * 1024;

/** Ports one port-forward request may name: kubectl forwards a handful, and over WebSocket each is dialled at once. */
export const MAX_PORTS_PER_REQUEST = 32;
/** Ports a WebSocket port-forward can address: port i uses channel bytes 2i and 2i+1. */
export const MAX_WEBSOCKET_PORTS = 128;
/** Connections (one nsenter/socat process each) a single port-forward session may hold at once: a browser opens 6 per host. */
export const MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION = 64;
/** Port-forward connections on the node at once, all sessions together: bounds helper processes and their descriptors. */
export const MAX_PORT_FORWARD_CONNECTIONS = 256;

/** Streaming URLs issued and not yet used (each expires after a minute): the kubelet's own streaming server allows 1000. */
export const MAX_OUTSTANDING_TOKENS = 1000;
/** TCP connections to the streaming port at once, upgraded or not: bounds sockets and their buffers. */
export const MAX_STREAMING_CONNECTIONS = 1024;

/** "1024 KiB" / "256 KiB" for messages. */
export function kib(bytes: number): string {
  return `${bytes / 1024} KiB`;
}
