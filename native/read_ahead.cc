// read_ahead: see read_ahead.hh.
#include "read_ahead.hh"

#include <errno.h>
#include <linux/netlink.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <unordered_map>
#include <vector>

namespace nlmon {
namespace {

constexpr size_t kDatagramSize = 32768;  // the kernel's cap for one dump skb
constexpr size_t kBatch = 64;            // datagrams per recvmmsg call
// Datagrams read from one socket per wake-up, so one busy socket cannot starve the others.
constexpr size_t kMaxPerFill = 256;
// Coalescing under a sustained stream: a wake-up within kBusyGapNs of the previous one that found
// fewer than kEnoughDatagrams datagrams sleeps kPauseNs before waiting again, so the next read
// (and the owner's next wake-up) holds a millisecond's worth. Far shorter than a buffer holds.
constexpr uint64_t kBusyGapNs = 2'000'000;
constexpr size_t kEnoughDatagrams = 64;
constexpr long kPauseNs = 1'000'000;
// While a socket waits for room, the reader looks again this often (room freed by other queues).
constexpr int kRetryMs = 10;
// Entries are kept in chunks of this many bytes (more for an entry that is larger), mapped and
// unmapped directly: freed memory goes back at once, not to an allocator's arena.
constexpr size_t kChunkSize = 256u << 10;

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// The one reader thread and its epoll set. Made on first use and never destroyed: the thread
// may still be waiting when the process exits.
class Reader {
 public:
  static Reader* Get(int* err) {
    static Reader* reader = nullptr;
    static int start_error = 0;
    static std::once_flag once;
    std::call_once(once, [] {
      Reader* r = new Reader();
      start_error = r->Start();
      if (start_error == 0) reader = r;
      else delete r;
    });
    *err = start_error;
    return reader;
  }

  int epoll() const { return epoll_; }
  std::atomic<size_t> total{0};     // bytes held by every queue
  std::atomic<int> waiting{0};      // queues that are not armed for want of room

  uint64_t Add(int fd, size_t cap, SocketQueue::Wake wake, void* arg, std::shared_ptr<SocketQueue>* out) {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t id = next_id_++;
    *out = std::make_shared<SocketQueue>(fd, cap, wake, arg, id);
    queues_[id] = *out;
    return id;
  }
  void Remove(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    queues_.erase(id);
  }

 private:
  int Start() {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) return errno;
    // Signals stay with Node's threads: the reader starts with all of them blocked.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t thread;
    const int err = pthread_create(&thread, nullptr, [](void* self) -> void* {
      static_cast<Reader*>(self)->Run();
      return nullptr;
    }, this);
    if (err == 0) pthread_detach(thread);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (err != 0) close(epoll_);
    return err;
  }

  void Run() {
    SocketQueue::Scratch* scratch = NewScratch();
    epoll_event events[64];
    std::vector<std::shared_ptr<SocketQueue>> ready;
    uint64_t last_wake = 0;
    for (;;) {
      const int n = epoll_wait(epoll_, events, 64, waiting.load() > 0 ? kRetryMs : -1);
      if (n < 0 && errno != EINTR) return;  // EBADF/EINVAL: cannot happen with our own epoll
      ready.clear();
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (int i = 0; i < n; i++) {
          auto it = queues_.find(events[i].data.u64);
          if (it != queues_.end()) ready.push_back(it->second);  // else closed since
        }
        if (waiting.load() > 0) {
          for (auto& [id, q] : queues_) ready.push_back(q);  // Arm() is a no-op on the armed
        }
      }
      size_t got = 0;
      for (auto& q : ready) {
        q->Arm();
        got += q->Fill(scratch);
      }
      ready.clear();  // the owners may free their queues
      const uint64_t now = NowNs();
      const bool busy = now - last_wake < kBusyGapNs;
      last_wake = now;
      if (busy && got > 0 && got < kEnoughDatagrams) {
        timespec pause{0, kPauseNs};
        nanosleep(&pause, nullptr);
      }
    }
  }

  static SocketQueue::Scratch* NewScratch();

  int epoll_ = -1;
  std::mutex mu_;
  std::unordered_map<uint64_t, std::shared_ptr<SocketQueue>> queues_;
  uint64_t next_id_ = 1;
};

// Room for one NETLINK_LISTEN_ALL_NSID control message (an int), aligned for cmsghdr.
union Control {
  cmsghdr align;
  uint8_t bytes[CMSG_SPACE(sizeof(int))];
};

// The namespace a datagram came from (the NETLINK_LISTEN_ALL_NSID control message), -1 if none.
int32_t OriginNsid(const msghdr& m) {
  for (const cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&m), const_cast<cmsghdr*>(c))) {
    if (c->cmsg_level == SOL_NETLINK && c->cmsg_type == NETLINK_LISTEN_ALL_NSID &&
        c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int v;
      std::memcpy(&v, CMSG_DATA(c), sizeof v);
      return v;
    }
  }
  return -1;
}

}  // namespace

namespace {

// Chunks of kChunkSize kept for reuse, so a steady stream touches the same pages instead of
// faulting fresh ones in and unmapping them (which costs every thread a TLB flush).
class ChunkPool {
 public:
  static ChunkPool& Get() {
    static ChunkPool* pool = new ChunkPool();  // never destroyed: the reader may outlive exit
    return *pool;
  }
  uint8_t* Take(size_t capacity) {
    if (capacity == kChunkSize) {
      std::lock_guard<std::mutex> lock(mu_);
      if (count_ > 0) return spare_[--count_];
    }
    void* bytes = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return bytes == MAP_FAILED ? nullptr : static_cast<uint8_t*>(bytes);
  }
  void Give(uint8_t* bytes, size_t capacity) {
    if (capacity == kChunkSize) {
      std::lock_guard<std::mutex> lock(mu_);
      if (count_ < kSpares) {
        spare_[count_++] = bytes;
        return;
      }
    }
    munmap(bytes, capacity);
  }

 private:
  static constexpr size_t kSpares = 4;  // 1 MiB kept at most
  std::mutex mu_;
  uint8_t* spare_[kSpares];
  size_t count_ = 0;
};

}  // namespace

Entries::~Entries() { Clear(); }

void Entries::Free(Chunk& c) {
  ChunkPool::Get().Give(c.bytes, c.capacity);
  c.bytes = nullptr;
}

void Entries::Clear() {
  for (Chunk& c : chunks_) Free(c);
  chunks_.clear();
  offset_ = 0;
}

size_t Entries::Append(EntryKind kind, int32_t value, const uint8_t* data, uint32_t len) {
  const size_t size = EntrySize(len);
  if (chunks_.empty() || chunks_.back().capacity - chunks_.back().used < size) {
    const size_t capacity = std::max(kChunkSize, (size + 4095) & ~size_t{4095});
    uint8_t* bytes = ChunkPool::Get().Take(capacity);
    if (!bytes) return 0;  // out of memory: the caller counts it
    chunks_.push_back(Chunk{bytes, capacity, 0});
  }
  Chunk& c = chunks_.back();
  const EntryHeader h{kind, len, value};
  std::memcpy(c.bytes + c.used, &h, sizeof h);
  if (len > 0) std::memcpy(c.bytes + c.used + sizeof h, data, len);
  c.used += size;
  return size;
}

bool Entries::Next(EntryHeader* h, const uint8_t** data) {
  while (!chunks_.empty() && offset_ >= chunks_.front().used) {
    Free(chunks_.front());
    chunks_.pop_front();
    offset_ = 0;
  }
  if (chunks_.empty()) return false;
  const Chunk& c = chunks_.front();
  std::memcpy(h, c.bytes + offset_, sizeof *h);
  *data = c.bytes + offset_ + sizeof *h;
  offset_ += EntrySize(h->len);
  return true;
}

struct SocketQueue::Scratch {
  std::unique_ptr<uint8_t[]> data{new uint8_t[kDatagramSize * kBatch]};
  iovec iov[kBatch];
  Control control[kBatch];
  sockaddr_nl from[kBatch];
  mmsghdr msgs[kBatch];
};

SocketQueue::Scratch* Reader::NewScratch() { return new SocketQueue::Scratch(); }

std::shared_ptr<SocketQueue> SocketQueue::Open(int fd, size_t cap, Wake wake, void* arg, int* err) {
  Reader* reader = Reader::Get(err);
  if (!reader) {
    close(fd);
    return nullptr;
  }
  std::shared_ptr<SocketQueue> q;
  reader->Add(fd, cap, wake, arg, &q);
  {
    std::lock_guard<std::mutex> lock(q->mu_);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = q->id_;
    if (epoll_ctl(reader->epoll(), EPOLL_CTL_ADD, fd, &ev) < 0) {
      *err = errno;
      q->closed_ = true;
      close(fd);
      reader->Remove(q->id_);
      return nullptr;
    }
    q->armed_ = true;
  }
  return q;
}

bool SocketQueue::Full() const {
  int unused;
  return held_ >= cap_ || Reader::Get(&unused)->total.load() >= kTotalCap;
}

void SocketQueue::Disarm() {
  if (!armed_) return;
  int unused;
  Reader* reader = Reader::Get(&unused);
  epoll_ctl(reader->epoll(), EPOLL_CTL_DEL, fd_, nullptr);
  armed_ = false;
  if (!failed_) reader->waiting++;
}

// Reads the socket again once its queue, and all queues together, are down to half their cap.
void SocketQueue::Arm() {
  std::lock_guard<std::mutex> lock(mu_);
  int unused;
  Reader* reader = Reader::Get(&unused);
  if (armed_ || closed_ || failed_ || held_ > cap_ / 2 || reader->total.load() > kTotalCap / 2) return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = id_;
  if (epoll_ctl(reader->epoll(), EPOLL_CTL_ADD, fd_, &ev) < 0) return;  // ENOMEM: the next retry
  armed_ = true;
  reader->waiting--;
}

void SocketQueue::Append(EntryKind kind, int32_t value, const uint8_t* data, uint32_t len) {
  size_t size = queue_.Append(kind, value, data, len);
  if (size == 0 && kind == EntryKind::kDatagram) {
    // No memory for it: counted, and told as an overrun (if even that fits) so that the
    // namespace resyncs what it missed.
    lost_++;
    size = queue_.Append(EntryKind::kOverrun, 0, nullptr, 0);
  }
  held_ += size;
  int unused;
  Reader::Get(&unused)->total += size;
}

size_t SocketQueue::Fill(Scratch* b) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_ || !armed_) return 0;
  size_t got = 0;
  while (got < kMaxPerFill) {
    if (Full()) {
      Disarm();
      break;
    }
    // Near the cap, one datagram at a time: a queue holds at most one datagram past it.
    const size_t room = cap_ > held_ ? cap_ - held_ : 0;
    const size_t want = std::min({kBatch, kMaxPerFill - got, std::max<size_t>(1, room / kDatagramSize)});
    for (size_t i = 0; i < want; i++) {
      b->iov[i].iov_base = b->data.get() + i * kDatagramSize;
      b->iov[i].iov_len = kDatagramSize;
      std::memset(&b->msgs[i], 0, sizeof b->msgs[i]);
      b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
      b->msgs[i].msg_hdr.msg_iovlen = 1;
      b->msgs[i].msg_hdr.msg_name = &b->from[i];
      b->msgs[i].msg_hdr.msg_namelen = sizeof b->from[i];
      b->msgs[i].msg_hdr.msg_control = b->control[i].bytes;
      b->msgs[i].msg_hdr.msg_controllen = sizeof b->control[i].bytes;
    }
    const int n = recvmmsg(fd_, b->msgs, static_cast<unsigned>(want), MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {
        Append(EntryKind::kOverrun, 0, nullptr, 0);
        continue;
      }
      Append(EntryKind::kError, errno, nullptr, 0);
      failed_ = true;
      Disarm();
      break;
    }
    for (int i = 0; i < n; i++) {
      const mmsghdr& m = b->msgs[i];
      // Only whole datagrams from the kernel (port 0) are kept, as iproute2 does.
      if ((m.msg_hdr.msg_flags & MSG_TRUNC) || m.msg_hdr.msg_namelen != sizeof(sockaddr_nl) ||
          b->from[i].nl_pid != 0) {
        truncated_++;
        continue;
      }
      Append(EntryKind::kDatagram, OriginNsid(m.msg_hdr), static_cast<const uint8_t*>(b->iov[i].iov_base), m.msg_len);
    }
    got += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < want) break;  // empty
  }
  if (!queue_.empty() && !signalled_) {
    signalled_ = true;
    wake_(arg_);
  }
  return got;
}

bool SocketQueue::Take(Entries* out) {
  out->Clear();
  std::lock_guard<std::mutex> lock(mu_);
  signalled_ = false;
  if (queue_.empty()) return false;
  *out = std::move(queue_);
  queue_ = Entries();
  return true;
}

void SocketQueue::Release(size_t bytes) {
  int unused;
  Reader* reader = Reader::Get(&unused);
  {
    std::lock_guard<std::mutex> lock(mu_);
    bytes = std::min(bytes, held_);
    held_ -= bytes;
    reader->total -= bytes;
  }
  Arm();
}

uint64_t SocketQueue::truncated() {
  std::lock_guard<std::mutex> lock(mu_);
  return truncated_ + lost_;
}

void SocketQueue::Close() {
  int unused;
  Reader* reader = Reader::Get(&unused);
  reader->Remove(id_);
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  if (armed_) epoll_ctl(reader->epoll(), EPOLL_CTL_DEL, fd_, nullptr);
  else if (!failed_) reader->waiting--;
  armed_ = false;
  closed_ = true;
  close(fd_);
  reader->total -= held_;
  held_ = 0;
  queue_.Clear();
}

}  // namespace nlmon
