// record_pack: decoded records handed to JavaScript as one Int32Array and one string per batch
// (building plain objects in JavaScript is far cheaper than per-field N-API calls).
#pragma once

#include <node_api.h>

#include <vector>

#include "link_decoder.hh"

namespace nlmon {

// Int32 fields per record in the packed batch; the order is mirrored in src/netlink/native.ts.
constexpr size_t kIntsPerRecord = 15;

// Packs records as (Int32Array of kIntsPerRecord per record, string of 4 fields per record
// joined by NUL). False if the environment could not create them.
bool PackRecords(napi_env env, const std::vector<LinkRecord>& recs, napi_value* ints_out,
                 napi_value* strs_out);

}  // namespace nlmon
