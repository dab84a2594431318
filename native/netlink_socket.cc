// netlink_socket: socket set-up inside a namespace, dump requests and the recvmmsg drain.
// No Node-API here either; the binding owns polling and the hand-off to JavaScript, read_ahead.cc
// the reading done ahead of it.
#include "netlink_socket.hh"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <pthread.h>

namespace nlmon {
namespace {

constexpr size_t kBatch = 64;            // datagrams per recvmmsg call

SysError Fail(const char* syscall) { return SysError{errno, syscall}; }

// Creates and configures the socket in the calling thread's network namespace.
void CreateSocket(int receive_buffer, uint32_t groups, bool all_nsid, OpenResult* r) {
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    r->error = Fail("socket");
    return;
  }
  if (receive_buffer > 0) {
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer, sizeof receive_buffer) == 0) {
      r->forced = true;
    } else {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
  }
  int one = 1;  // dump replies from a kernel that supports it are checked strictly
  setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = groups;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    r->error = Fail("bind");
    close(fd);
    return;
  }
  if (all_nsid) {
    // Refused (EPERM) without CAP_NET_BROADCAST; RTNLGRP_NSID needs nothing.
    const int group = RTNLGRP_NSID;
    if (setsockopt(fd, SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
      r->error = Fail("setsockopt");
      close(fd);
      return;
    }
  }
  socklen_t alen = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) < 0) {
    r->error = Fail("getsockname");
    close(fd);
    return;
  }
  int granted = 0;
  socklen_t glen = sizeof granted;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &glen);
  r->fd = fd;
  r->port_id = addr.nl_pid;
  r->receive_buffer = granted;
}

// Room for one NETLINK_LISTEN_ALL_NSID control message (an int), aligned for cmsghdr.
union Control {
  cmsghdr align;
  uint8_t bytes[CMSG_SPACE(sizeof(int))];
};

struct RecvBuffers {
  std::unique_ptr<uint8_t[]> data{new uint8_t[kDatagramSize * kBatch]};
  iovec iov[kBatch];
  Control control[kBatch];
  sockaddr_nl from[kBatch];
  mmsghdr msgs[kBatch];
};

// One set per thread: each thread (JavaScript's, the reader's) reads one socket at a time.
RecvBuffers& Buffers() {
  thread_local std::unique_ptr<RecvBuffers> buffers;
  if (!buffers) buffers.reset(new RecvBuffers());
  return *buffers;
}

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

// NSFS_MAGIC (linux/magic.h): the filesystem of namespace files.
constexpr unsigned long kNsfsMagic = 0x6e736673;

// Opens path as a network namespace file: O_NONBLOCK, so that a FIFO (or any other file)
// dropped into a netns directory cannot block; only an nsfs file is a namespace, anything else
// is EINVAL. Returns the fd or -1 with *error set.
int OpenNamespaceFile(const std::string& path, SysError* error) {
  const int nsfd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (nsfd < 0) {
    *error = Fail("open");
    return -1;
  }
  struct statfs fs;
  if (fstatfs(nsfd, &fs) < 0 || static_cast<unsigned long>(fs.f_type) != kNsfsMagic) {
    *error = SysError{EINVAL, "fstatfs"};
    close(nsfd);
    return -1;
  }
  return nsfd;
}

OpenResult OpenLinkSocket(const std::string& netns_path, int receive_buffer, bool addresses,
                          bool all_nsid) {
  OpenResult r;
  const uint32_t groups = RTMGRP_LINK | (addresses ? RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR : 0);
  if (netns_path.empty()) {
    CreateSocket(receive_buffer, groups, all_nsid, &r);
    return r;
  }
  struct Job {
    const std::string* path;
    int receive_buffer;
    uint32_t groups;
    bool all_nsid;
    OpenResult* result;
  } job{&netns_path, receive_buffer, groups, all_nsid, &r};
  auto enter_and_create = [](void* arg) -> void* {
    Job* j = static_cast<Job*>(arg);
    const int nsfd = OpenNamespaceFile(*j->path, &j->result->error);
    if (nsfd < 0) return nullptr;
    if (setns(nsfd, CLONE_NEWNET) < 0) {
      j->result->error = Fail("setns");
      close(nsfd);
      return nullptr;
    }
    close(nsfd);
    CreateSocket(j->receive_buffer, j->groups, j->all_nsid, j->result);
    return nullptr;
  };
  pthread_t helper;
  const int err = pthread_create(&helper, nullptr, enter_and_create, &job);
  if (err != 0) {
    r.error = SysError{err, "pthread_create"};
    return r;
  }
  pthread_join(helper, nullptr);
  return r;
}

// Sends one request to the kernel on fd. Returns 0 or errno.
int SendRequest(int fd, const void* req, size_t len) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    const ssize_t n = sendto(fd, req, len, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
    if (n >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

namespace {

// A request: the header, the family message and up to two 32-bit attributes, built in place.
class Request {
 public:
  Request(uint16_t type, uint16_t flags, uint32_t seq, const void* body, size_t body_len) {
    std::memset(buf_, 0, sizeof buf_);
    nlmsghdr* nh = reinterpret_cast<nlmsghdr*>(buf_);
    nh->nlmsg_type = type;
    nh->nlmsg_flags = flags;
    nh->nlmsg_seq = seq;
    std::memcpy(buf_ + NLMSG_HDRLEN, body, body_len);
    len_ = NLMSG_HDRLEN + NLMSG_ALIGN(body_len);
  }
  void Add(uint16_t type, int32_t value) {
    rtattr* a = reinterpret_cast<rtattr*>(buf_ + len_);
    a->rta_type = type;
    a->rta_len = RTA_LENGTH(sizeof value);
    std::memcpy(RTA_DATA(a), &value, sizeof value);
    len_ += RTA_SPACE(sizeof value);
  }
  int Send(int fd) {
    reinterpret_cast<nlmsghdr*>(buf_)->nlmsg_len = static_cast<uint32_t>(len_);
    return SendRequest(fd, buf_, len_);
  }

 private:
  alignas(nlmsghdr) uint8_t buf_[NLMSG_HDRLEN + 32 + 2 * RTA_SPACE(sizeof(int32_t))];
  size_t len_;
};

}  // namespace

int SendLinkDump(int fd, uint32_t seq, int32_t target_nsid) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  Request req(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, &ifi, sizeof ifi);
  if (target_nsid >= 0) req.Add(IFLA_TARGET_NETNSID, target_nsid);
  return req.Send(fd);
}

int SendAddrDump(int fd, uint32_t seq, int32_t target_nsid) {
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_UNSPEC;  // IPv4 and IPv6 in one dump
  Request req(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, &ifa, sizeof ifa);
  if (target_nsid >= 0) req.Add(IFA_TARGET_NETNSID, target_nsid);
  return req.Send(fd);
}

int SendGetNsid(int fd, uint32_t seq, int nsfd, int32_t target_nsid, int32_t peer_nsid) {
  rtgenmsg g{};
  g.rtgen_family = AF_UNSPEC;
  Request req(RTM_GETNSID, NLM_F_REQUEST, seq, &g, sizeof g);
  if (nsfd >= 0) req.Add(NETNSA_FD, nsfd);
  else req.Add(NETNSA_NSID, peer_nsid);
  if (target_nsid >= 0) req.Add(NETNSA_TARGET_NSID, target_nsid);
  return req.Send(fd);
}

namespace {

// Sends req on the blocking socket fd and reads records until one answers seq (a kNsid record or
// an error). Returns 0 with *nsid set, or an errno (a kernel error, or a receive that failed or
// timed out).
int Ask(int fd, Request& req, uint32_t seq, int32_t* nsid) {
  int err = req.Send(fd);
  if (err != 0) return err;
  static thread_local uint8_t buf[8192];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    std::vector<LinkRecord> out;
    DecodeStats stats;
    DecodeDatagram(buf, static_cast<size_t>(n), &out, &stats);
    for (const LinkRecord& rec : out) {
      if (rec.seq != seq) continue;
      if (rec.kind == RecordKind::kError) return rec.error;
      if (rec.kind == RecordKind::kNsid) {
        *nsid = rec.link_netnsid;
        return 0;
      }
    }
    // An ACK is decoded as nothing: a request that asked for one (RTM_NEWNSID) has succeeded.
    if (n >= static_cast<ssize_t>(NLMSG_HDRLEN + sizeof(int32_t))) {
      const nlmsghdr* nh = reinterpret_cast<const nlmsghdr*>(buf);
      if (nh->nlmsg_seq == seq && nh->nlmsg_type == NLMSG_ERROR) return 0;
    }
  }
}

}  // namespace

NsidResult NamespaceId(const std::string& netns_path) {
  NsidResult r;
  const int nsfd = OpenNamespaceFile(netns_path, &r.error);
  if (nsfd < 0) return r;
  struct stat st;
  if (fstat(nsfd, &st) < 0) {
    r.error = Fail("fstat");
    close(nsfd);
    return r;
  }
  r.ino = static_cast<uint64_t>(st.st_ino);
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    r.error = Fail("socket");
    close(nsfd);
    return r;
  }
  timeval timeout{1, 0};  // the kernel answers at once; this only bounds a surprise
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  rtgenmsg g{};
  g.rtgen_family = AF_UNSPEC;
  int err = 0;
  for (uint32_t seq = 1; seq <= 3 && err == 0; seq += 2) {
    Request get(RTM_GETNSID, NLM_F_REQUEST, seq, &g, sizeof g);
    get.Add(NETNSA_FD, nsfd);
    err = Ask(fd, get, seq, &r.nsid);
    if (err != 0 || r.nsid >= 0 || seq == 3) break;
    // No id yet: ask for one (-1: the kernel picks). EEXIST: another process gave it one since.
    Request give(RTM_NEWNSID, NLM_F_REQUEST | NLM_F_ACK, seq + 1, &g, sizeof g);
    give.Add(NETNSA_FD, nsfd);
    give.Add(NETNSA_NSID, -1);
    int32_t unused = -1;
    err = Ask(fd, give, seq + 1, &unused);
    if (err == EEXIST) err = 0;
  }
  if (err != 0) r.error = SysError{err, "RTM_NEWNSID"};
  close(fd);
  close(nsfd);
  return r;
}

DrainResult ReceiveSocket(int fd, size_t max_datagrams, const DatagramSink& take) {
  RecvBuffers& b = Buffers();
  DrainResult r;
  while (r.datagrams < max_datagrams) {
    const size_t want = std::min(kBatch, max_datagrams - r.datagrams);
    for (size_t i = 0; i < want; i++) {
      b.iov[i].iov_base = b.data.get() + i * kDatagramSize;
      b.iov[i].iov_len = kDatagramSize;
      std::memset(&b.msgs[i], 0, sizeof b.msgs[i]);
      b.msgs[i].msg_hdr.msg_iov = &b.iov[i];
      b.msgs[i].msg_hdr.msg_iovlen = 1;
      b.msgs[i].msg_hdr.msg_name = &b.from[i];
      b.msgs[i].msg_hdr.msg_namelen = sizeof b.from[i];
      b.msgs[i].msg_hdr.msg_control = b.control[i].bytes;
      b.msgs[i].msg_hdr.msg_controllen = sizeof b.control[i].bytes;
    }
    const int n = recvmmsg(fd, b.msgs, static_cast<unsigned>(want), MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        r.end = DrainEnd::kEmpty;
      } else if (errno == ENOBUFS) {
        r.end = DrainEnd::kOverrun;
      } else {
        r.end = DrainEnd::kError;
        r.error = Fail("recvmmsg");
      }
      return r;
    }
    for (int i = 0; i < n; i++) {
      const mmsghdr& m = b.msgs[i];
      // Only whole datagrams from the kernel (port 0) are taken, as iproute2 does.
      if ((m.msg_hdr.msg_flags & MSG_TRUNC) || m.msg_hdr.msg_namelen != sizeof(sockaddr_nl) ||
          b.from[i].nl_pid != 0) {
        r.truncated++;
        continue;
      }
      take(static_cast<const uint8_t*>(b.iov[i].iov_base), m.msg_len, OriginNsid(m.msg_hdr));
    }
    r.datagrams += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < want) {
      r.end = DrainEnd::kEmpty;
      return r;
    }
  }
  r.end = DrainEnd::kLimit;
  return r;
}

DrainResult DrainSocket(int fd, size_t max_datagrams, std::vector<LinkRecord>* out,
                        DecodeStats* stats) {
  return ReceiveSocket(fd, max_datagrams, [&](const uint8_t* data, size_t len, int32_t origin) {
    DecodeFrom(data, len, origin, out, stats);
  });
}

void DecodeFrom(const uint8_t* data, size_t len, int32_t origin, std::vector<LinkRecord>* out,
                DecodeStats* stats) {
  const size_t first = out->size();
  DecodeDatagram(data, len, out, stats);
  if (origin >= 0) {
    for (size_t k = first; k < out->size(); k++) (*out)[k].origin_nsid = origin;
  }
}

}  // namespace nlmon
