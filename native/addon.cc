// addon: the module registration. Each export lives in its own *_binding.cc (see bindings.hh).
#include <napi.h>

#include "bindings.hh"
#include "record_pack.hh"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  nlmon::InitSpawn(env);
  exports.Set("LinkWatcher", nlmon::DefineLinkWatcher(env));
  exports.Set("namespaceId", Napi::Function::New(env, nlmon::NamespaceIdOf, "namespaceId"));
  exports.Set("decode", Napi::Function::New(env, nlmon::Decode, "decode"));
  exports.Set("spawnHook", Napi::Function::New(env, nlmon::SpawnHook, "spawnHook"));
  exports.Set("watchExit", Napi::Function::New(env, nlmon::WatchExit, "watchExit"));
  exports.Set("raiseFileLimit", Napi::Function::New(env, nlmon::RaiseFileLimit, "raiseFileLimit"));
  exports.Set("crc32", Napi::Function::New(env, nlmon::Crc32Of, "crc32"));
  exports.Set("sealRecords", Napi::Function::New(env, nlmon::SealRecordsOf, "sealRecords"));
  exports.Set("intsPerRecord", Napi::Number::New(env, nlmon::kIntsPerRecord));
  return exports;
}

}  // namespace

NODE_API_MODULE(nlmon, Init)
