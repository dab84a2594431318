// read_ahead: reads a netlink socket ahead of the JavaScript thread when that thread falls behind
// (docs/events.md, "Read-ahead"). The socket's owner reads it on its own loop as long as it keeps
// up. One reader thread per process watches every socket (epoll, one-shot): when the owner has not
// read a socket that has data for kStallNs, or the kernel's buffer is a quarter full, the reader
// reads it into the socket's queue until the owner has taken all of it back. The owner takes the
// queue before it reads the socket again, so the order is the kernel's. A queue holds at most the
// bytes of receive buffer its socket asked for (half what the kernel grants) and all queues
// together at most kTotalCap bytes, each plus one datagram; the bytes live in chunks mapped as
// they fill, so memory follows what is held (and, for a second, what a burst gave back). A socket
// whose queue is full is not read until the owner has taken half of it: the kernel queues
// meanwhile, then overruns (ENOBUFS), exactly as when nothing reads the socket, and the overrun
// takes its place in the queue's order. No Node-API here: the owner is woken through a function
// it gives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

namespace nlmon {

// Bytes all queues together may hold (plus one datagram each).
constexpr size_t kTotalCap = 64u << 20;
// How long the owner may leave a socket with data unread before the reader reads it: longer than
// the owner's own pause under a stream (kPauseMs in link_watcher_binding.cc, 4 ms), which is not
// a stall; far shorter than the kernel's buffer lasts under a burst (about 0.3 s at 100 000 link
// messages a second with receive_buffer at its default).
constexpr uint64_t kStallNs = 10'000'000;
// How often the reader looks again at a socket whose owner keeps up (whether the owner has read
// since, and whether the kernel's buffer is filling): before a quarter of the kernel's buffer
// could fill at kWorstFillBytesPerMs (twice the fastest bursts measured: 100 000 link messages a
// second take about 230 MB/s of the kernel's), within 1 ms and kStallNs. 10 ms for the default
// receive_buffer (32 MiB granted); 1 ms for a 2 MiB buffer, which such a burst fills in 9 ms.
constexpr uint64_t kWorstFillBytesPerMs = 500'000;
constexpr uint64_t CheckNs(size_t cap) {
  // cap is the bytes asked for; the kernel grants twice that.
  const uint64_t ns = uint64_t{cap} * 2 / 4 * 1'000'000 / kWorstFillBytesPerMs;
  return ns < 1'000'000 ? 1'000'000 : ns > kStallNs ? kStallNs : ns;
}

// What an entry of a queue is. Entries are an EntryHeader followed by len bytes, padded to 4.
enum class EntryKind : uint32_t {
  kDatagram = 0,  // a whole datagram from the kernel
  kOverrun = 1,   // the kernel dropped messages here (ENOBUFS)
  kError = 2,     // the socket failed (value: errno); nothing follows, the socket is not read again
};

struct EntryHeader {
  EntryKind kind;
  uint32_t len;   // bytes of datagram that follow
  int32_t value;  // kDatagram: the origin namespace id (NETLINK_LISTEN_ALL_NSID), -1 if none;
                  // kError: errno
};

constexpr size_t EntrySize(uint32_t len) { return sizeof(EntryHeader) + ((len + 3u) & ~size_t{3}); }

// Entries in order, in chunks of at least kChunkSize bytes (one entry never spans two).
class Entries {
 public:
  Entries() = default;
  Entries(Entries&&) = default;
  Entries& operator=(Entries&&) = default;
  ~Entries();

  bool empty() const { return chunks_.empty(); }
  // Appends an entry; returns its size (what it counts against the caps).
  size_t Append(EntryKind kind, int32_t value, const uint8_t* data, uint32_t len);
  // The next entry, in order; false when none is left. *data stays valid until the next call,
  // which frees a chunk read to its end.
  bool Next(EntryHeader* h, const uint8_t** data);
  void Clear();

 private:
  struct Chunk {
    uint8_t* bytes;
    size_t capacity, used;
  };
  void Free(Chunk& c);
  std::deque<Chunk> chunks_;
  size_t offset_ = 0;  // in the first chunk
};

class Reader;  // read_ahead.cc: the reader thread and its epoll set

class SocketQueue {
 public:
  using Wake = void (*)(void* arg);

  // Hands fd (a non-blocking netlink socket) to the reader, queueing at most cap bytes. wake(arg)
  // is called from the reader's thread when entries are queued and the owner has taken none since
  // the last call. The queue owns fd from here on. Returns null with *err set (the reader thread
  // or its epoll could not be made); fd is then closed.
  static std::shared_ptr<SocketQueue> Open(int fd, size_t cap, Wake wake, void* arg, int* err);

  // The owner's side. TakeOrRead moves what has been queued into *out (emptied first) and
  // returns true; when nothing was, it calls read() if given (the owner reading the socket
  // itself, in order with the reader) and returns false. Release gives back the sizes of taken entries the
  // owner is done with. QueueOverrun puts an overrun the owner learnt of (POLLERR) behind what is
  // queued and returns true, or returns false when nothing is (the owner reports it itself).
  bool TakeOrRead(Entries* out, const std::function<void()>& read);
  void Release(size_t bytes);
  bool QueueOverrun();
  // Datagrams dropped as cut short (MSG_TRUNC), not from the kernel, or for want of memory;
  // datagrams the reader read ahead; the most bytes the queue held.
  struct Counts {
    uint64_t truncated = 0, read_ahead = 0, peak = 0;
  };
  Counts counts();
  // The reader stops reading fd and closes it; no wake is called once this returns.
  void Close();

  // The reader's side (read_ahead.cc). OnReadable: the one-shot readiness fired; reads when the
  // owner is behind and returns the datagrams read, or returns -1 when the owner keeps up (the
  // reader looks again in check_ns). Arm: watch for readiness again, if there is room.
  uint64_t check_ns() const { return CheckNs(cap_); }
  long OnReadable();
  void Arm();

  SocketQueue(Reader* reader, int fd, size_t cap, Wake wake, void* arg, uint64_t id)
      : reader_(reader), fd_(fd), cap_(cap), wake_(wake), arg_(arg), id_(id) {}

 private:
  void Append(EntryKind kind, int32_t value, const uint8_t* data, uint32_t len);
  size_t Fill();
  bool Full() const;
  bool Backlog() const;
  void ArmLocked();

  std::mutex mu_;
  Reader* const reader_;
  const int fd_;
  const size_t cap_;
  const Wake wake_;
  void* const arg_;
  const uint64_t id_;
  Entries queue_;
  size_t held_ = 0;  // queued plus taken and not released
  uint64_t truncated_ = 0, lost_ = 0, read_ahead_ = 0;
  size_t peak_ = 0;
  uint64_t owner_reads_ = 0, seen_reads_ = ~uint64_t{0};  // the owner's reads; as the reader last saw them
  uint64_t seen_at_ns_ = 0;  // when the reader last saw the owner's reads change
  bool armed_ = false;     // a one-shot readiness is pending in the reader's epoll set
  bool room_wait_ = false; // not armed for want of room (counted in the reader's waiting)
  bool closed_ = false;
  bool failed_ = false;    // an error was queued: not read again
  bool signalled_ = false; // woken, and nothing taken since
};

}  // namespace nlmon
