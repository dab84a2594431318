// link_decoder: turns the bytes of one netlink datagram into LinkRecord structs.
// Pure C++ (no Node-API, no I/O) so it can be unit-tested and fuzzed on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nlmon {

enum class RecordKind : uint8_t {
  kLink = 0,      // RTM_NEWLINK / RTM_DELLINK for AF_UNSPEC
  kDumpDone = 1,  // NLMSG_DONE closing a dump
  kError = 2,     // NLMSG_ERROR with a non-zero errno (answer to our request)
  kNsid = 3,      // RTM_NEWNSID answering RTM_GETNSID (seq set), or RTM_NEWNSID / RTM_DELNSID
                  // notifying an id given or gone: link_netnsid holds the id (-1 if none), ifindex
                  // the message's nlmsg_pid (the requester's port; a reply has the socket's own)
  kAddr = 4,      // RTM_NEWADDR / RTM_DELADDR for AF_INET or AF_INET6
};

struct LinkRecord {
  RecordKind kind = RecordKind::kLink;
  uint16_t message_type = 0;  // 16 RTM_NEWLINK, 17 RTM_DELLINK
  bool dump = false;          // part of a dump reply (NLM_F_MULTI)
  bool dump_interrupted = false;  // NLM_F_DUMP_INTR seen on this message
  uint32_t seq = 0;
  int32_t error = 0;          // kError, kDumpDone: positive errno (0 on a complete dump)
  int32_t ifindex = 0;
  uint32_t flags = 0;         // ifi_flags
  uint32_t mtu = 0;
  uint32_t txqlen = 0;
  int32_t master = 0;
  int32_t link = 0;
  int32_t link_netnsid = -1;
  uint8_t operstate = 0;      // IF_OPER_* (0 unknown)
  std::string ifname;
  std::string address;        // "aa:bb:.." lower case, "" if none
  std::string kind_name;      // IFLA_INFO_KIND
  std::string alias;
  // kAddr only: flags holds IFA_FLAGS (or ifa_flags), ifname the label (IFA_LABEL), address the
  // address in canonical text (IFA_LOCAL, or IFA_ADDRESS without it), peer IFA_ADDRESS when it
  // differs from IFA_LOCAL (point-to-point).
  uint8_t family = 0;         // 2 AF_INET, 10 AF_INET6
  uint8_t prefixlen = 0;
  uint8_t scope = 0;          // RT_SCOPE_*: 0 global, 200 site, 253 link, 254 host, 255 nowhere
  std::string peer;
  // The id, in the socket's namespace, of the namespace a notification came from: set from the
  // NETLINK_LISTEN_ALL_NSID control message; -1 for the socket's own namespace (no message).
  int32_t origin_nsid = -1;
};

struct DecodeStats {
  uint64_t messages = 0;   // netlink messages looked at
  uint64_t malformed = 0;  // truncated or invalid, skipped
  uint64_t ignored = 0;    // valid but not ours (other families, NOOP, ACKs)
};

// Decodes every netlink message in buf[0..len). Appends one record per link message,
// dump end or error; never reads outside buf. Returns the number of records appended.
size_t DecodeDatagram(const uint8_t* buf, size_t len, std::vector<LinkRecord>* out,
                      DecodeStats* stats);

// Formats an IPv4 (4 bytes) or IPv6 (16 bytes) address as canonical text (inet_ntop).
std::string FormatIp(uint8_t family, const uint8_t* bytes);

// Formats a link-layer address as lower-case hex pairs joined by ':'.
std::string FormatAddress(const uint8_t* bytes, size_t len);

}  // namespace nlmon
