// read_ahead: see read_ahead.hh.
#include "read_ahead.hh"

#include "netlink_socket.hh"

#include <errno.h>
#include <linux/sock_diag.h>
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
#include <map>
#include <unordered_map>
#include <vector>

namespace nlmon {
namespace {

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
// unmapped directly (ChunkPool): freed memory goes back within a second of a burst's end, not to
// an allocator's arena.
constexpr size_t kChunkSize = 256u << 10;

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Chunks of kChunkSize kept for reuse, so a burst touches the same pages instead of faulting
// fresh ones in and unmapping them (which costs every thread a TLB flush): under a burst the
// event loop takes chunks back as fast as the reader fills new ones, and a chunk mapped afresh
// is 64 page faults (a fifth of a fault per link message, measured). What a burst gave back is
// kept, up to kMaxSpares, until no chunk has been taken for kIdleNs; then kSpares are kept. So
// what is mapped never exceeds what the queues held at their peak, and goes back after it.
class ChunkPool {
 public:
  static ChunkPool& Get() {
    static ChunkPool* pool = new ChunkPool();  // never destroyed: the reader may outlive exit
    return *pool;
  }
  uint8_t* Take(size_t capacity) {
    if (capacity == kChunkSize) {
      std::lock_guard<std::mutex> lock(mu_);
      taken_at_ = NowNs();
      if (count_ > 0) return spare_[--count_];
    }
    void* bytes = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return bytes == MAP_FAILED ? nullptr : static_cast<uint8_t*>(bytes);
  }
  void Give(uint8_t* bytes, size_t capacity) {
    if (capacity == kChunkSize) {
      std::lock_guard<std::mutex> lock(mu_);
      if (count_ < kMaxSpares) {
        spare_[count_++] = bytes;
        return;
      }
    }
    munmap(bytes, capacity);
  }
  // The reader's: unmaps the spares past kSpares once no chunk has been taken for kIdleNs;
  // returns the milliseconds until it should be called again (-1: not until chunks come back).
  int Trim(uint64_t now) {
    uint8_t* extra[kMaxSpares];
    size_t n = 0;
    int again = -1;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const uint64_t at = taken_at_ + kIdleNs;
      if (count_ > kSpares && at > now) again = static_cast<int>((at - now + 999'999) / 1'000'000);
      else while (count_ > kSpares) extra[n++] = spare_[--count_];
    }
    for (size_t i = 0; i < n; i++) munmap(extra[i], kChunkSize);
    return again;
  }

 private:
  static constexpr size_t kSpares = 4;       // 1 MiB kept while idle
  static constexpr size_t kMaxSpares = 64;   // 16 MiB, a queue's default cap, kept after a burst
  static constexpr uint64_t kIdleNs = 1'000'000'000;
  std::mutex mu_;
  uint8_t* spare_[kMaxSpares];
  size_t count_ = 0;
  uint64_t taken_at_ = 0;  // when a chunk was last taken
};

}  // namespace

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

  uint64_t NextId() {
    std::lock_guard<std::mutex> lock(mu_);
    return next_id_++;
  }
  void Add(uint64_t id, std::shared_ptr<SocketQueue> q) {
    std::lock_guard<std::mutex> lock(mu_);
    queues_[id] = std::move(q);
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
    epoll_event events[64];
    std::vector<std::shared_ptr<SocketQueue>> ready;
    // Sockets whose owner kept up, to look at again at a time: only this thread touches it.
    std::multimap<uint64_t, std::shared_ptr<SocketQueue>> later;  // by when, soonest first
    uint64_t last_wake = 0;
    for (;;) {
      int timeout = waiting.load() > 0 ? kRetryMs : -1;
      const uint64_t before = NowNs();
      if (!later.empty()) {
        const uint64_t at = later.begin()->first;
        const int ms = at > before ? static_cast<int>((at - before + 999'999) / 1'000'000) : 0;
        timeout = timeout < 0 ? ms : std::min(timeout, ms);
      }
      const int trim = ChunkPool::Get().Trim(before);
      if (trim >= 0) timeout = timeout < 0 ? trim : std::min(timeout, trim);
      const int n = epoll_wait(epoll_, events, 64, timeout);
      if (n < 0 && errno != EINTR) return;  // EBADF/EINVAL: cannot happen with our own epoll
      ready.clear();
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (int i = 0; i < n; i++) {
          auto it = queues_.find(events[i].data.u64);
          if (it != queues_.end()) ready.push_back(it->second);  // else closed since
        }
        if (waiting.load() > 0) {
          for (auto& [id, q] : queues_) q->Arm();  // a no-op unless it waits for room it now has
        }
      }
      const uint64_t now = NowNs();
      while (!later.empty() && later.begin()->first <= now) {
        later.begin()->second->Arm();  // fires at once if the socket still has data
        later.erase(later.begin());
      }
      size_t got = 0;
      for (auto& q : ready) {
        const long r = q->OnReadable();
        if (r < 0) later.emplace(now + q->check_ns(), std::move(q));
        else got += static_cast<size_t>(r);
      }
      ready.clear();  // the owners may free their queues
      const bool busy = now - last_wake < kBusyGapNs;
      last_wake = now;
      if (busy && got > 0 && got < kEnoughDatagrams) {
        timespec pause{0, kPauseNs};
        nanosleep(&pause, nullptr);
      }
    }
  }

  int epoll_ = -1;
  std::mutex mu_;
  std::unordered_map<uint64_t, std::shared_ptr<SocketQueue>> queues_;
  uint64_t next_id_ = 1;
};

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

std::shared_ptr<SocketQueue> SocketQueue::Open(int fd, size_t cap, Wake wake, void* arg, int* err) {
  Reader* reader = Reader::Get(err);
  if (!reader) {
    close(fd);
    return nullptr;
  }
  // Armed from the start (the reader finds it so), then added to the epoll set: no lock is
  // held across the reader's, which the reader takes before a queue's.
  const uint64_t id = reader->NextId();
  auto q = std::make_shared<SocketQueue>(reader, fd, cap, wake, arg, id);
  q->armed_ = true;
  reader->Add(id, q);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.u64 = id;
  if (epoll_ctl(reader->epoll(), EPOLL_CTL_ADD, fd, &ev) < 0) {
    *err = errno;
    q->Close();
    return nullptr;
  }
  return q;
}

bool SocketQueue::Full() const {
  return held_ >= cap_ || reader_->total.load() >= kTotalCap;
}

// The kernel's receive buffer is a quarter full or more.
bool SocketQueue::Backlog() const {
  uint32_t info[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof info;
  if (getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, info, &len) < 0) return true;  // read, to be safe
  return uint64_t{info[SK_MEMINFO_RMEM_ALLOC]} * 4 >= info[SK_MEMINFO_RCVBUF];
}

// Watches for readiness again (one-shot), unless the queue is full: then once the owner has
// taken it down to half, and all queues together to half theirs.
void SocketQueue::ArmLocked() {
  if (armed_ || closed_ || failed_) return;
  Reader* reader = reader_;
  const bool room = held_ <= cap_ / 2 && reader->total.load() <= kTotalCap / 2;
  if (!room && (room_wait_ || Full())) {
    if (!room_wait_) reader->waiting++;
    room_wait_ = true;
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.u64 = id_;
  if (epoll_ctl(reader->epoll(), EPOLL_CTL_MOD, fd_, &ev) < 0) {
    if (!room_wait_) reader->waiting++;  // ENOMEM: the next retry
    room_wait_ = true;
    return;
  }
  armed_ = true;
  if (room_wait_) reader->waiting--;
  room_wait_ = false;
}

void SocketQueue::Arm() {
  std::lock_guard<std::mutex> lock(mu_);
  ArmLocked();
}

long SocketQueue::OnReadable() {
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = false;
  if (closed_ || failed_) return 0;
  // The owner is behind: it is taking what was read ahead, it has not read for kStallNs (as far as
  // the reader, looking every check_ns, has seen), or the kernel's buffer is filling.
  const uint64_t now = NowNs();
  if (owner_reads_ != seen_reads_) {
    seen_reads_ = owner_reads_;
    seen_at_ns_ = now;
  }
  if (held_ == 0 && now - seen_at_ns_ < kStallNs && !Backlog()) return -1;
  const size_t got = Fill();
  ArmLocked();
  return static_cast<long>(got);
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
  peak_ = std::max(peak_, held_);
  reader_->total += size;
}

size_t SocketQueue::Fill() {
  size_t got = 0;
  while (got < kMaxPerFill && !Full()) {
    // Near the cap, one datagram at a time: a queue holds at most one datagram past it.
    const size_t room = cap_ > held_ ? cap_ - held_ : 0;
    const size_t want = std::min(kMaxPerFill - got, std::max<size_t>(1, room / kDatagramSize));
    const DrainResult r = ReceiveSocket(fd_, want, [this](const uint8_t* data, size_t len, int32_t origin) {
      Append(EntryKind::kDatagram, origin, data, static_cast<uint32_t>(len));
    });
    got += r.datagrams;
    read_ahead_ += r.datagrams - r.truncated;
    truncated_ += r.truncated;
    if (r.end == DrainEnd::kOverrun) {
      Append(EntryKind::kOverrun, 0, nullptr, 0);
    } else if (r.end == DrainEnd::kError) {
      Append(EntryKind::kError, r.error.code, nullptr, 0);
      failed_ = true;
      break;
    } else if (r.end == DrainEnd::kEmpty) {
      break;
    }
  }
  if (!queue_.empty() && !signalled_) {
    signalled_ = true;
    wake_(arg_);
  }
  return got;
}

bool SocketQueue::TakeOrRead(Entries* out, const std::function<void()>& read) {
  out->Clear();
  std::lock_guard<std::mutex> lock(mu_);
  signalled_ = false;
  if (queue_.empty()) {
    if (read) {
      owner_reads_++;
      read();
    }
    return false;
  }
  *out = std::move(queue_);
  queue_ = Entries();
  return true;
}

bool SocketQueue::QueueOverrun() {
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.empty()) return false;
  Append(EntryKind::kOverrun, 0, nullptr, 0);
  return true;
}

void SocketQueue::Release(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  bytes = std::min(bytes, held_);
  held_ -= bytes;
  reader_->total -= bytes;
  if (room_wait_) ArmLocked();
}

SocketQueue::Counts SocketQueue::counts() {
  std::lock_guard<std::mutex> lock(mu_);
  return Counts{truncated_ + lost_, read_ahead_, peak_};
}

void SocketQueue::Close() {
  Reader* reader = reader_;
  reader->Remove(id_);
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  epoll_ctl(reader->epoll(), EPOLL_CTL_DEL, fd_, nullptr);
  if (room_wait_) reader->waiting--;
  room_wait_ = armed_ = false;
  closed_ = true;
  close(fd_);
  reader->total -= held_;
  held_ = 0;
  queue_.Clear();
}

}  // namespace nlmon
