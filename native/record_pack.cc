// record_pack: see record_pack.hh.
#include "record_pack.hh"

#include <string>

namespace nlmon {

bool PackRecords(napi_env env, const std::vector<LinkRecord>& recs, napi_value* ints_out,
                 napi_value* strs_out) {
  const size_t n = recs.size();
  void* data = nullptr;
  napi_value ab;
  if (napi_create_arraybuffer(env, n * kIntsPerRecord * sizeof(int32_t), &data, &ab) != napi_ok) return false;
  int32_t* p = static_cast<int32_t*>(data);
  std::string strs;
  strs.reserve(n * 40);
  for (const LinkRecord& r : recs) {
    *p++ = static_cast<int32_t>(r.kind);
    *p++ = r.message_type;
    *p++ = r.dump ? 1 : 0;
    *p++ = r.dump_interrupted ? 1 : 0;
    *p++ = static_cast<int32_t>(r.seq);
    *p++ = r.error;
    *p++ = r.ifindex;
    *p++ = static_cast<int32_t>(r.flags);
    // An address record has no MTU, queue length or master: those slots hold its prefix length,
    // family and scope (native.ts reads them so).
    const bool addr = r.kind == RecordKind::kAddr;
    *p++ = addr ? r.prefixlen : static_cast<int32_t>(r.mtu);
    *p++ = addr ? r.family : static_cast<int32_t>(r.txqlen);
    *p++ = addr ? r.scope : r.master;
    *p++ = r.link;
    *p++ = r.link_netnsid;
    *p++ = r.operstate;
    *p++ = r.origin_nsid;
    for (const std::string* f : {&r.ifname, &r.address, addr ? &r.peer : &r.kind_name, &r.alias}) {
      strs += *f;
      strs.push_back('\0');
    }
  }
  return napi_create_typedarray(env, napi_int32_array, n * kIntsPerRecord, ab, 0, ints_out) == napi_ok &&
         napi_create_string_utf8(env, strs.data(), strs.size(), strs_out) == napi_ok;
}

}  // namespace nlmon
