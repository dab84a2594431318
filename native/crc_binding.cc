// crc_binding: crc32(bytes, start, end) and sealRecords(bytes, start, end), the spool's record
// check (src/outputs/spool/record.ts): one call a record to check, one a batch to seal.
#include <cmath>

#include "bindings.hh"
#include "crc32.hh"

namespace nlmon {

namespace {

// bytes[start, end) of the call's Uint8Array; false, with an exception pending, when the
// arguments are not a Uint8Array and two whole numbers within it.
bool Span(const Napi::CallbackInfo& info, const char* usage, uint8_t** data, size_t* len) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      !info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return false;
  }
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  const double start = info[1].As<Napi::Number>().DoubleValue();
  const double end = info[2].As<Napi::Number>().DoubleValue();
  if (!(start >= 0 && start <= end && end <= static_cast<double>(bytes.ByteLength())) || std::trunc(start) != start ||
      std::trunc(end) != end) {
    Napi::RangeError::New(env, usage).ThrowAsJavaScriptException();
    return false;
  }
  *data = bytes.Data() + static_cast<size_t>(start);
  *len = static_cast<size_t>(end - start);
  return true;
}

}  // namespace

Napi::Value Crc32Of(const Napi::CallbackInfo& info) {
  uint8_t* data;
  size_t len;
  if (!Span(info, "crc32(bytes, start, end): a Uint8Array and a range within it", &data, &len)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), Crc32(0, data, len));
}

Napi::Value SealRecordsOf(const Napi::CallbackInfo& info) {
  uint8_t* data;
  size_t len;
  if (!Span(info, "sealRecords(bytes, start, end): a Uint8Array and a range within it", &data, &len)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), static_cast<double>(SealRecords(data, len)));
}

}  // namespace nlmon
