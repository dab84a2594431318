// js_call: see js_call.hh. Raw N-API throughout, so it is safe on the poll path.
#include "js_call.hh"

#include <string.h>
#include <uv.h>

namespace nlmon {

bool CanCallJs(napi_env env) {
  napi_value probe;
  return napi_create_arraybuffer(env, 0, nullptr, &probe) == napi_ok;
}

napi_value SystemError(napi_env env, const SysError& e, const std::string& path) {
  std::string msg = e.syscall + " " + uv_err_name(-e.code) + ": " + strerror(e.code);
  if (!path.empty()) msg += " '" + path + "'";
  napi_value text, err, v;
  if (napi_create_string_utf8(env, msg.data(), msg.size(), &text) != napi_ok ||
      napi_create_error(env, nullptr, text, &err) != napi_ok) {
    return nullptr;
  }
  auto set_string = [&](const char* key, const std::string& value) {
    if (napi_create_string_utf8(env, value.data(), value.size(), &v) == napi_ok) {
      napi_set_named_property(env, err, key, v);
    }
  };
  set_string("code", uv_err_name(-e.code));
  if (napi_create_int32(env, -e.code, &v) == napi_ok) napi_set_named_property(env, err, "errno", v);
  set_string("syscall", e.syscall);
  if (!path.empty()) set_string("path", path);
  return err;
}

void ThrowSystemError(napi_env env, const SysError& e, const std::string& path) {
  napi_value err = SystemError(env, e, path);
  if (err) napi_throw(env, err);
}

void CallFromLoop(napi_env env, napi_async_context context, napi_value recv, napi_value fn,
                  size_t argc, const napi_value* argv) {
  napi_value result;
  napi_make_callback(env, context, recv, fn, argc, argv, &result);
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    if (CanCallJs(env)) napi_fatal_exception(env, exc);
  }
}

}  // namespace nlmon
