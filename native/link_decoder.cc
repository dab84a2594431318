// link_decoder: validates and decodes rtnetlink link and address messages (nlmsghdr,
// ifinfomsg and IFLA_*, ifaddrmsg and IFA_*).
// Every length is checked before it is used; a bad message is counted and skipped.
#include "link_decoder.hh"

#include <arpa/inet.h>

#include <climits>
#include <cstring>

namespace nlmon {
namespace {

// Wire constants, spelled out so the decoder does not depend on kernel headers' macros.
constexpr size_t kNlmsgHdrLen = 16;   // sizeof(struct nlmsghdr)
constexpr size_t kIfinfoLen = 16;     // sizeof(struct ifinfomsg)
constexpr size_t kRtaHdrLen = 4;      // sizeof(struct rtattr)
constexpr uint16_t kNlmsgNoop = 1, kNlmsgError = 2, kNlmsgDone = 3, kNlmsgOverrun = 4;
constexpr uint16_t kRtmNewlink = 16, kRtmDellink = 17, kRtmNewaddr = 20, kRtmDeladdr = 21,
                   kRtmNewnsid = 88, kRtmDelnsid = 89;
constexpr size_t kIfaddrLen = 8;      // sizeof(struct ifaddrmsg)
constexpr uint16_t kIfaAddress = 1, kIfaLocal = 2, kIfaLabel = 3, kIfaCacheinfo = 6, kIfaFlags = 8;
constexpr size_t kIfaCacheinfoLen = 16;  // sizeof(struct ifa_cacheinfo)
constexpr uint8_t kAfInet = 2, kAfInet6 = 10;
constexpr size_t kRtgenLen = 4;       // NLMSG_ALIGN(sizeof(struct rtgenmsg))
constexpr uint16_t kNetnsaNsid = 1;
constexpr uint16_t kFlagMulti = 0x2, kFlagDumpIntr = 0x10;
constexpr uint16_t kAttrTypeMask = 0x3fff;  // strips NLA_F_NESTED / NLA_F_NET_BYTEORDER
constexpr uint16_t kIflaAddress = 1, kIflaIfname = 3, kIflaMtu = 4, kIflaLink = 5,
                   kIflaMaster = 10, kIflaTxqlen = 13, kIflaOperstate = 16, kIflaLinkinfo = 18,
                   kIflaIfalias = 20, kIflaLinkNetnsid = 37;
constexpr uint16_t kIflaInfoKind = 1;
constexpr size_t kMaxAddressLen = 32;  // MAX_ADDR_LEN

inline size_t Align4(size_t n) { return (n + 3) & ~static_cast<size_t>(3); }

template <typename T>
inline T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

struct Attr {
  uint16_t type;
  const uint8_t* data;
  size_t len;
};

// Walks the attributes in [p, p+len). Calls fn(Attr) for each; returns false if any
// attribute header or length is invalid (the whole message is then malformed).
template <typename Fn>
bool ForEachAttr(const uint8_t* p, size_t len, Fn fn) {
  size_t off = 0;
  while (len - off >= kRtaHdrLen) {
    const uint16_t rta_len = Load<uint16_t>(p + off);
    const uint16_t rta_type = Load<uint16_t>(p + off + 2);
    if (rta_len < kRtaHdrLen || rta_len > len - off) return false;
    if (!fn(Attr{static_cast<uint16_t>(rta_type & kAttrTypeMask), p + off + kRtaHdrLen,
                 rta_len - kRtaHdrLen})) {
      return false;
    }
    const size_t step = Align4(rta_len);
    if (step >= len - off) return true;  // last attribute (padding may be missing)
    off += step;
  }
  return len - off == 0;  // 1..3 stray bytes are not a valid attribute
}

std::string AttrString(const Attr& a) {
  const char* s = reinterpret_cast<const char*>(a.data);
  return std::string(s, strnlen(s, a.len));
}

bool ReadU32(const Attr& a, uint32_t* v) {
  if (a.len < 4) return false;
  *v = Load<uint32_t>(a.data);
  return true;
}

bool DecodeLinkInfo(const Attr& info, LinkRecord* rec) {
  return ForEachAttr(info.data, info.len, [rec](const Attr& a) {
    if (a.type == kIflaInfoKind) rec->kind_name = AttrString(a);
    return true;
  });
}

// Decodes the body of RTM_NEWLINK / RTM_DELLINK. Returns false if malformed.
bool DecodeLink(const uint8_t* body, size_t len, LinkRecord* rec, bool* ours) {
  if (len < kIfinfoLen) return false;
  const uint8_t family = body[0];
  *ours = family == 0;  // AF_UNSPEC; AF_BRIDGE port messages share the group but not the shape
  if (!*ours) return true;
  rec->ifindex = Load<int32_t>(body + 4);
  rec->flags = Load<uint32_t>(body + 8);
  bool have_name = false;
  const bool ok = ForEachAttr(body + kIfinfoLen, len - kIfinfoLen, [&](const Attr& a) {
    uint32_t v = 0;
    switch (a.type) {
      case kIflaAddress:
        if (a.len > kMaxAddressLen) return false;
        rec->address = FormatAddress(a.data, a.len);
        return true;
      case kIflaIfname:
        rec->ifname = AttrString(a);
        have_name = !rec->ifname.empty();
        return true;
      case kIflaMtu:
        return ReadU32(a, &rec->mtu);
      case kIflaLink:
        if (!ReadU32(a, &v)) return false;
        rec->link = static_cast<int32_t>(v);
        return true;
      case kIflaMaster:
        if (!ReadU32(a, &v)) return false;
        rec->master = static_cast<int32_t>(v);
        return true;
      case kIflaTxqlen:
        return ReadU32(a, &rec->txqlen);
      case kIflaOperstate:
        if (a.len < 1) return false;
        rec->operstate = a.data[0];
        return true;
      case kIflaLinkinfo:
        return DecodeLinkInfo(a, rec);
      case kIflaIfalias:
        rec->alias = AttrString(a);
        return true;
      case kIflaLinkNetnsid:
        if (!ReadU32(a, &v)) return false;
        rec->link_netnsid = static_cast<int32_t>(v);
        return true;
      default:
        return true;
    }
  });
  return ok && have_name && rec->ifindex > 0;
}

// Decodes the body of RTM_NEWADDR / RTM_DELADDR. Returns false if malformed; *ours is false for
// families other than IPv4 and IPv6.
bool DecodeAddr(const uint8_t* body, size_t len, LinkRecord* rec, bool* ours) {
  if (len < kIfaddrLen) return false;
  const uint8_t family = body[0];
  *ours = family == kAfInet || family == kAfInet6;
  if (!*ours) return true;
  const size_t addr_len = family == kAfInet ? 4 : 16;
  rec->kind = RecordKind::kAddr;
  rec->family = family;
  rec->prefixlen = body[1];
  rec->flags = body[2];
  rec->scope = body[3];
  rec->ifindex = Load<int32_t>(body + 4);
  if (rec->prefixlen > addr_len * 8) return false;
  const uint8_t* address = nullptr;
  const uint8_t* local = nullptr;
  const bool ok = ForEachAttr(body + kIfaddrLen, len - kIfaddrLen, [&](const Attr& a) {
    switch (a.type) {
      case kIfaAddress:
        if (a.len != addr_len) return false;
        address = a.data;
        return true;
      case kIfaLocal:
        if (a.len != addr_len) return false;
        local = a.data;
        return true;
      case kIfaLabel:
        rec->ifname = AttrString(a);
        return true;
      case kIfaCacheinfo:
        return a.len >= kIfaCacheinfoLen;
      case kIfaFlags:
        return ReadU32(a, &rec->flags);
      default:
        return true;
    }
  });
  if (!ok || rec->ifindex <= 0 || (!address && !local)) return false;
  rec->address = FormatIp(family, local ? local : address);
  if (local && address && std::memcmp(local, address, addr_len) != 0) rec->peer = FormatIp(family, address);
  return true;
}

// The kernel sends errors as negative errno values; -INT32_MIN does not fit: clamp it.
int32_t PositiveErrno(int32_t err) { return err == INT32_MIN ? INT32_MAX : (err < 0 ? -err : err); }

}  // namespace

std::string FormatIp(uint8_t family, const uint8_t* bytes) {
  char text[INET6_ADDRSTRLEN];
  if (!inet_ntop(family == kAfInet ? AF_INET : AF_INET6, bytes, text, sizeof text)) return std::string();
  return std::string(text);
}

std::string FormatAddress(const uint8_t* bytes, size_t len) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  if (len == 0) return s;
  s.reserve(len * 3 - 1);
  for (size_t i = 0; i < len; i++) {
    if (i) s.push_back(':');
    s.push_back(kHex[bytes[i] >> 4]);
    s.push_back(kHex[bytes[i] & 0xf]);
  }
  return s;
}

size_t DecodeDatagram(const uint8_t* buf, size_t len, std::vector<LinkRecord>* out,
                      DecodeStats* stats) {
  const size_t before = out->size();
  size_t off = 0;
  while (len - off >= kNlmsgHdrLen) {
    const uint8_t* msg = buf + off;
    const uint32_t msg_len = Load<uint32_t>(msg);
    const uint16_t type = Load<uint16_t>(msg + 4);
    const uint16_t nl_flags = Load<uint16_t>(msg + 6);
    const uint32_t seq = Load<uint32_t>(msg + 8);
    stats->messages++;
    if (msg_len < kNlmsgHdrLen || msg_len > len - off) {
      stats->malformed++;  // the rest of the datagram cannot be framed
      break;
    }
    const uint8_t* body = msg + kNlmsgHdrLen;
    const size_t body_len = msg_len - kNlmsgHdrLen;
    LinkRecord rec;
    rec.message_type = type;
    rec.seq = seq;
    rec.dump = (nl_flags & kFlagMulti) != 0;
    rec.dump_interrupted = (nl_flags & kFlagDumpIntr) != 0;
    switch (type) {
      case kRtmNewlink:
      case kRtmDellink:
      case kRtmNewaddr:
      case kRtmDeladdr: {
        bool ours = false;
        const bool link = type == kRtmNewlink || type == kRtmDellink;
        if (!(link ? DecodeLink : DecodeAddr)(body, body_len, &rec, &ours)) {
          stats->malformed++;
        } else if (!ours) {
          stats->ignored++;
        } else {
          out->push_back(std::move(rec));
        }
        break;
      }
      case kRtmNewnsid:
      case kRtmDelnsid: {
        if (body_len < kRtgenLen) {
          stats->malformed++;
          break;
        }
        rec.kind = RecordKind::kNsid;
        rec.link_netnsid = -1;
        // nlmsg_pid: the port of the request it answers or was caused by (0: the kernel's own).
        rec.ifindex = static_cast<int32_t>(Load<uint32_t>(msg + 12));
        const bool ok = ForEachAttr(body + kRtgenLen, body_len - kRtgenLen, [&rec](const Attr& a) {
          if (a.type == kNetnsaNsid) {
            if (a.len < 4) return false;
            rec.link_netnsid = Load<int32_t>(a.data);
          }
          return true;
        });
        if (!ok) stats->malformed++;
        else out->push_back(std::move(rec));
        break;
      }
      case kNlmsgDone:
        // NLMSG_DONE carries an int: 0, or the negative errno of a dump that failed part way.
        rec.kind = RecordKind::kDumpDone;
        if (body_len >= 4) rec.error = PositiveErrno(Load<int32_t>(body));
        out->push_back(std::move(rec));
        break;
      case kNlmsgError: {
        if (body_len < 4) {
          stats->malformed++;
          break;
        }
        const int32_t err = Load<int32_t>(body);
        if (err == 0) {
          stats->ignored++;  // an ACK
          break;
        }
        rec.kind = RecordKind::kError;
        rec.error = PositiveErrno(err);
        out->push_back(std::move(rec));
        break;
      }
      case kNlmsgNoop:
      case kNlmsgOverrun:
      default:
        stats->ignored++;
        break;
    }
    const size_t step = Align4(msg_len);
    if (step >= len - off) break;
    off += step;
  }
  return out->size() - before;
}

}  // namespace nlmon
