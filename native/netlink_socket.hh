// netlink_socket: one NETLINK_ROUTE socket bound to the link group (and the IPv4/IPv6 address
// groups), opened inside a network namespace; bounded recvmmsg drains into decoded records, link
// and address dump requests, and RTM_GETNSID requests.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "link_decoder.hh"
#include "sys_error.hh"

namespace nlmon {

// The largest datagram the kernel sends on it (its cap for one dump skb).
constexpr size_t kDatagramSize = 32768;

struct OpenResult {
  int fd = -1;
  uint32_t port_id = 0;
  int receive_buffer = 0;  // bytes granted (as getsockopt(SO_RCVBUF) reports)
  bool forced = false;     // SO_RCVBUFFORCE was accepted
  SysError error;
};

// Opens a non-blocking, close-on-exec rtnetlink socket joined to RTMGRP_LINK (and, with
// addresses, RTMGRP_IPV4_IFADDR and RTMGRP_IPV6_IFADDR). With a
// non-empty netns_path the socket is created inside that namespace by a short-lived helper
// thread (setns never runs on the caller's thread).
//
// With all_nsid (the shared intake, docs/config.md "intake"), the socket also listens to every
// namespace that has an id in its own (NETLINK_LISTEN_ALL_NSID: CAP_NET_BROADCAST), each
// datagram's origin in a control message, and joins RTNLGRP_NSID (ids given and gone).
OpenResult OpenLinkSocket(const std::string& netns_path, int receive_buffer, bool addresses,
                          bool all_nsid = false);

// Sends RTM_GETLINK with NLM_F_DUMP and the given sequence number; with target_nsid >= 0, of the
// namespace with that id (IFLA_TARGET_NETNSID: CAP_NET_ADMIN over it). Returns 0 or errno.
int SendLinkDump(int fd, uint32_t seq, int32_t target_nsid = -1);

// Sends RTM_GETADDR (AF_UNSPEC: both families) with NLM_F_DUMP; target_nsid as above
// (IFA_TARGET_NETNSID). Returns 0 or errno.
int SendAddrDump(int fd, uint32_t seq, int32_t target_nsid = -1);

// Sends RTM_GETNSID for the namespace open as nsfd (or, with nsfd < 0, the one with id peer_nsid
// here): the reply (RTM_NEWNSID, a kNsid record with this seq) gives the id the socket's
// namespace (or, with target_nsid >= 0, the namespace with that id) knows it by, -1 if none.
// Returns 0 or errno.
int SendGetNsid(int fd, uint32_t seq, int nsfd, int32_t target_nsid = -1, int32_t peer_nsid = -1);

// The id the calling thread's namespace has for the network namespace file at path, given one
// (RTM_NEWNSID, CAP_NET_ADMIN) when it has none; and the file's inode. A file that is not a
// namespace is EINVAL, as OpenLinkSocket says.
struct NsidResult {
  int32_t nsid = -1;
  uint64_t ino = 0;
  SysError error;
};
NsidResult NamespaceId(const std::string& netns_path);

enum class DrainEnd { kEmpty, kLimit, kOverrun, kError };

struct DrainResult {
  DrainEnd end = DrainEnd::kEmpty;
  size_t datagrams = 0;
  uint64_t truncated = 0;  // datagrams cut by MSG_TRUNC or not from the kernel
  SysError error;
};

// Receives up to max_datagrams datagrams (recvmmsg, non-blocking) and hands each whole one from
// the kernel to take(bytes, length, origin namespace id or -1); the others are counted as
// truncated. Stops early when the socket is empty, on ENOBUFS (kOverrun) or on another error.
using DatagramSink = std::function<void(const uint8_t*, size_t, int32_t)>;
DrainResult ReceiveSocket(int fd, size_t max_datagrams, const DatagramSink& take);

// Decodes one datagram into out, each record marked with the namespace it came from (origin, the
// NETLINK_LISTEN_ALL_NSID id; -1 leaves them the socket's own).
void DecodeFrom(const uint8_t* data, size_t len, int32_t origin, std::vector<LinkRecord>* out,
                DecodeStats* stats);

// ReceiveSocket, decoding each datagram into out (DecodeFrom).
DrainResult DrainSocket(int fd, size_t max_datagrams, std::vector<LinkRecord>* out,
                        DecodeStats* stats);

}  // namespace nlmon
