// spawn_binding: spawnHook runs the hook spawner (hook_spawn.cc) on libuv's thread pool, and
// watchExit polls a child's pidfd on the loop and reports its exit once, reaped.
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <string>
#include <vector>

#include "bindings.hh"
#include "hook_spawn.hh"
#include "js_call.hh"

namespace nlmon {
namespace {

// posix_spawn on the thread pool, so that neither the fork-free spawn nor the exec blocks the
// loop; cb(err, {pid, pidfd, stdout, stderr}).
class SpawnWorker : public Napi::AsyncWorker {
 public:
  SpawnWorker(Napi::Function cb, SpawnRequest req) : Napi::AsyncWorker(cb, "nlmon.spawnHook"), req_(std::move(req)) {}
  void Execute() override { result_ = nlmon::SpawnHook(req_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (result_.pid < 0) {
      napi_value err = SystemError(env, result_.error, req_.file);
      if (err) Callback().Call({err});
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("pid", Napi::Number::New(env, result_.pid));
    o.Set("pidfd", Napi::Number::New(env, result_.pidfd));
    o.Set("stdout", Napi::Number::New(env, result_.out_fd));
    o.Set("stderr", Napi::Number::New(env, result_.err_fd));
    Callback().Call({env.Null(), o});
  }

 private:
  SpawnRequest req_;
  SpawnResult result_;
};

bool StringArray(Napi::Value v, std::vector<std::string>* out) {
  if (!v.IsArray()) return false;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value item = a.Get(i);
    if (!item.IsString()) return false;
    out->push_back(item.As<Napi::String>().Utf8Value());
  }
  return true;
}

// One child's exit, polled on the loop like the netlink sockets; raw N-API for the same reason.
struct ExitWatch {
  uv_poll_t poll;
  napi_env env;
  napi_ref cb;
  napi_async_context context;
  pid_t pid;
  int pidfd;

  static void OnReadable(uv_poll_t* h, int /*status*/, int /*events*/) {
    ExitWatch* w = static_cast<ExitWatch*>(h->data);
    int status = 0;
    const pid_t got = waitpid(w->pid, &status, WNOHANG);
    if (got == 0) return;  // not yet
    const int code = got > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    const int sig = got > 0 && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    napi_handle_scope scope;
    if (napi_open_handle_scope(w->env, &scope) == napi_ok) {
      napi_value fn, recv, args[2];
      if (CanCallJs(w->env) && napi_get_reference_value(w->env, w->cb, &fn) == napi_ok && fn &&
          napi_get_global(w->env, &recv) == napi_ok && napi_create_int32(w->env, code, &args[0]) == napi_ok &&
          napi_create_int32(w->env, sig, &args[1]) == napi_ok) {
        CallFromLoop(w->env, w->context, recv, fn, 2, args);
      }
      napi_close_handle_scope(w->env, scope);
    }
    w->Close();
  }

  static void OnEnvCleanup(void* arg) { static_cast<ExitWatch*>(arg)->Close(); }

  void Close() {
    napi_remove_env_cleanup_hook(env, OnEnvCleanup, this);
    uv_poll_stop(&poll);
    napi_delete_reference(env, cb);
    napi_async_destroy(env, context);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll), [](uv_handle_t* h) {
      ExitWatch* w = static_cast<ExitWatch*>(h->data);
      ::close(w->pidfd);
      delete w;
    });
  }
};

}  // namespace

// spawnHook(file, argv, env, stdin, capture, cb)
Napi::Value SpawnHook(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SpawnRequest req;
  if (info.Length() < 6 || !info[0].IsString() || !StringArray(info[1], &req.argv) || req.argv.empty() ||
      !StringArray(info[2], &req.env) || !info[3].IsString() || !info[4].IsBoolean() || !info[5].IsFunction()) {
    Napi::TypeError::New(env, "spawnHook(file, argv[], env[], stdin, capture, cb)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  req.file = info[0].As<Napi::String>().Utf8Value();
  req.stdin_data = info[3].As<Napi::String>().Utf8Value();
  req.capture = info[4].As<Napi::Boolean>().Value();
  (new SpawnWorker(info[5].As<Napi::Function>(), std::move(req)))->Queue();
  return env.Undefined();
}

// watchExit(pid, pidfd, cb): cb(code, signal) once the child has exited (and been reaped);
// the pidfd is closed.
Napi::Value WatchExit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsFunction()) {
    Napi::TypeError::New(env, "watchExit(pid, pidfd, cb)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  ExitWatch* w = new ExitWatch();
  w->env = env;
  w->pid = info[0].As<Napi::Number>().Int32Value();
  w->pidfd = info[1].As<Napi::Number>().Int32Value();
  w->poll.data = w;
  napi_value name;
  napi_create_string_utf8(env, "nlmon.watchExit", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, nullptr, name, &w->context);
  napi_create_reference(env, info[2], 1, &w->cb);
  if (uv_poll_init(loop, &w->poll, w->pidfd) != 0) {
    napi_delete_reference(env, w->cb);
    napi_async_destroy(env, w->context);
    delete w;
    Napi::Error::New(env, "watchExit: cannot poll the pidfd").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  napi_add_env_cleanup_hook(env, ExitWatch::OnEnvCleanup, w);
  uv_poll_start(&w->poll, UV_READABLE, ExitWatch::OnReadable);
  return env.Undefined();
}

}  // namespace nlmon
