// libuv's thread pool runs every asynchronous file-system call (log writes, /proc and cgroup
// reads, the layer walks' lstat calls), zlib and dns.lookup; it has 4 threads unless
// UV_THREADPOOL_SIZE says otherwise, read once when the pool first starts. The layer walks take
// up to 3 (LSTATS_IN_FLIGHT plus a directory read): with 8, most of the pool stays free for
// everything else. This module is imported first, before anything can start the pool; an
// operator's own UV_THREADPOOL_SIZE wins.
export const DEFAULT_THREAD_POOL_SIZE = 8;

process.env.UV_THREADPOOL_SIZE ??= String(DEFAULT_THREAD_POOL_SIZE);
