// process_binding: raiseFileLimit() lifts the soft RLIMIT_NOFILE to the hard one, so that a flood
// of connections cannot take the descriptors netlink sockets and hook spawns need.
#include <errno.h>
#include <sys/resource.h>

#include "bindings.hh"
#include "js_call.hh"

namespace nlmon {

// raiseFileLimit() -> {before, soft, hard}: the soft limit before and after, and the hard one.
Napi::Value RaiseFileLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    ThrowSystemError(env, SysError{errno, "getrlimit"}, "");
    return env.Undefined();
  }
  const double before = rl.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(rl.rlim_cur);
  if (rl.rlim_cur != rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("before", Napi::Number::New(env, before));
  out.Set("soft", Napi::Number::New(env, rl.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(rl.rlim_cur)));
  out.Set("hard", Napi::Number::New(env, rl.rlim_max == RLIM_INFINITY ? -1 : static_cast<double>(rl.rlim_max)));
  return out;
}

}  // namespace nlmon
