// bindings: the addon's exports, one binding per file, registered together in addon.cc.
#pragma once

#include <napi.h>

namespace nlmon {

// link_watcher_binding.cc: class LinkWatcher({netns, receiveBuffer, onBatch, onOverrun, onError}).
Napi::Function DefineLinkWatcher(Napi::Env env);
// link_watcher_binding.cc: namespaceId(path) -> {nsid, ino} (given an id if it has none).
Napi::Value NamespaceIdOf(const Napi::CallbackInfo& info);

// decode_binding.cc: decode(bytes) -> {ints, strings, count, messages, malformed, ignored}.
Napi::Value Decode(const Napi::CallbackInfo& info);

// spawn_binding.cc: spawnHook(file, argv, env, stdin, capture, cb[, identity]) and watchExit(pid, pidfd, cb).
Napi::Value SpawnHook(const Napi::CallbackInfo& info);
// Makes the environment's spawn queue (the addon's instance data) when the addon is loaded.
void InitSpawn(napi_env env);
Napi::Value WatchExit(const Napi::CallbackInfo& info);

// crc_binding.cc: crc32(bytes, start, end) -> the CRC-32 of bytes[start, end); sealRecords(bytes,
// start, end) -> how many spool records laid there it wrote the CRC of (crc32.hh).
Napi::Value Crc32Of(const Napi::CallbackInfo& info);
Napi::Value SealRecordsOf(const Napi::CallbackInfo& info);

// process_binding.cc: raiseFileLimit() -> {before, soft, hard}.
Napi::Value RaiseFileLimit(const Napi::CallbackInfo& info);

}  // namespace nlmon
