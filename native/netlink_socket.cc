// netlink_socket: socket set-up inside a namespace, dump requests and the recvmmsg drain.
// No Node-API here either; the binding owns polling and the hand-off to JavaScript.
#include "netlink_socket.hh"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <pthread.h>

namespace nlmon {
namespace {

constexpr size_t kDatagramSize = 32768;  // the kernel's cap for one dump skb
constexpr size_t kBatch = 64;            // datagrams per recvmmsg call

SysError Fail(const char* syscall) { return SysError{errno, syscall}; }

// Creates and configures the socket in the calling thread's network namespace.
void CreateSocket(int receive_buffer, uint32_t groups, OpenResult* r) {
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

struct RecvBuffers {
  std::unique_ptr<uint8_t[]> data{new uint8_t[kDatagramSize * kBatch]};
  iovec iov[kBatch];
  sockaddr_nl from[kBatch];
  mmsghdr msgs[kBatch];
};

// One set per thread: JavaScript threads drain one socket at a time.
RecvBuffers& Buffers() {
  thread_local std::unique_ptr<RecvBuffers> buffers;
  if (!buffers) buffers.reset(new RecvBuffers());
  return *buffers;
}

}  // namespace

// NSFS_MAGIC (linux/magic.h): the filesystem of namespace files.
constexpr unsigned long kNsfsMagic = 0x6e736673;

OpenResult OpenLinkSocket(const std::string& netns_path, int receive_buffer, bool addresses) {
  OpenResult r;
  const uint32_t groups = RTMGRP_LINK | (addresses ? RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR : 0);
  if (netns_path.empty()) {
    CreateSocket(receive_buffer, groups, &r);
    return r;
  }
  struct Job {
    const std::string* path;
    int receive_buffer;
    uint32_t groups;
    OpenResult* result;
  } job{&netns_path, receive_buffer, groups, &r};
  auto enter_and_create = [](void* arg) -> void* {
    Job* j = static_cast<Job*>(arg);
    // O_NONBLOCK: a FIFO (or any other file) dropped into a netns directory must not block
    // here. Only an nsfs file is a namespace; anything else is EINVAL, before setns.
    const int nsfd = open(j->path->c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (nsfd < 0) {
      j->result->error = Fail("open");
      return nullptr;
    }
    struct statfs fs;
    if (fstatfs(nsfd, &fs) < 0 || static_cast<unsigned long>(fs.f_type) != kNsfsMagic) {
      j->result->error = SysError{EINVAL, "fstatfs"};
      close(nsfd);
      return nullptr;
    }
    if (setns(nsfd, CLONE_NEWNET) < 0) {
      j->result->error = Fail("setns");
      close(nsfd);
      return nullptr;
    }
    close(nsfd);
    CreateSocket(j->receive_buffer, j->groups, j->result);
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

int SendLinkDump(int fd, uint32_t seq) {
  struct {
    nlmsghdr nh;
    ifinfomsg ifi;
  } req{};
  req.nh.nlmsg_len = sizeof req;
  req.nh.nlmsg_type = RTM_GETLINK;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = seq;
  req.ifi.ifi_family = AF_UNSPEC;
  return SendRequest(fd, &req, sizeof req);
}

int SendAddrDump(int fd, uint32_t seq) {
  struct {
    nlmsghdr nh;
    ifaddrmsg ifa;
  } req{};
  req.nh.nlmsg_len = sizeof req;
  req.nh.nlmsg_type = RTM_GETADDR;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = seq;
  req.ifa.ifa_family = AF_UNSPEC;  // IPv4 and IPv6 in one dump
  return SendRequest(fd, &req, sizeof req);
}

int SendGetNsid(int fd, uint32_t seq, int nsfd) {
  struct {
    nlmsghdr nh;
    rtgenmsg g;
    uint8_t pad[3];
    rtattr fd_attr;
    uint32_t fd_value;
  } req{};
  req.nh.nlmsg_len = sizeof req;
  req.nh.nlmsg_type = RTM_GETNSID;
  req.nh.nlmsg_flags = NLM_F_REQUEST;
  req.nh.nlmsg_seq = seq;
  req.g.rtgen_family = AF_UNSPEC;
  req.fd_attr.rta_len = RTA_LENGTH(sizeof(uint32_t));
  req.fd_attr.rta_type = NETNSA_FD;
  req.fd_value = static_cast<uint32_t>(nsfd);
  return SendRequest(fd, &req, sizeof req);
}

DrainResult DrainSocket(int fd, size_t max_datagrams, std::vector<LinkRecord>* out,
                        DecodeStats* stats) {
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
      // Only whole datagrams from the kernel (port 0) are decoded, as iproute2 does.
      if ((m.msg_hdr.msg_flags & MSG_TRUNC) || m.msg_hdr.msg_namelen != sizeof(sockaddr_nl) ||
          b.from[i].nl_pid != 0) {
        r.truncated++;
        continue;
      }
      DecodeDatagram(static_cast<const uint8_t*>(b.iov[i].iov_base), m.msg_len, out, stats);
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

}  // namespace nlmon
