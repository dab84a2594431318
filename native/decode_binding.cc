// decode_binding: decode(bytes) runs one recorded datagram through the same decoder the
// sockets use, for tests and tools; no socket involved.
#include <vector>

#include "bindings.hh"
#include "link_decoder.hh"
#include "record_pack.hh"

namespace nlmon {

Napi::Value Decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "decode(buffer): a Buffer is required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  std::vector<LinkRecord> recs;
  DecodeStats stats;
  DecodeDatagram(bytes.Data(), bytes.ByteLength(), &recs, &stats);
  napi_value ints, strs;
  if (!PackRecords(env, recs, &ints, &strs)) return env.Undefined();
  Napi::Object out = Napi::Object::New(env);
  out.Set("ints", ints);
  out.Set("strings", strs);
  out.Set("count", Napi::Number::New(env, static_cast<double>(recs.size())));
  out.Set("messages", Napi::Number::New(env, static_cast<double>(stats.messages)));
  out.Set("malformed", Napi::Number::New(env, static_cast<double>(stats.malformed)));
  out.Set("ignored", Napi::Number::New(env, static_cast<double>(stats.ignored)));
  return out;
}

}  // namespace nlmon
