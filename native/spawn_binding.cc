// spawn_binding: spawnHook runs the hook spawner (hook_spawn.cc) on spawn threads of its own, and
// watchExit polls a child's pidfd on the loop and reports its exit once, reaped.
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bindings.hh"
#include "hook_spawn.hh"
#include "js_call.hh"

namespace nlmon {
namespace {

// Hook spawns run on threads of their own, not on libuv's pool: an exec that hangs (a script on
// a dead mount) must not hold a pool thread, or file writes (the hook log) would queue behind it.
// A job waits for an idle spawn thread; a new thread starts when none is idle, up to kMaxThreads.
// Threads are detached and share the state through a shared_ptr, so a thread stuck in exec when
// the environment goes away touches nothing freed.
constexpr size_t kMaxThreads = 16;

// Kills a spawned child nobody will hear of (its callback cannot run, or the environment is
// going) and closes its descriptors; a thread of its own reaps it, since the loop may be going
// too: no descriptor and no zombie is left behind.
void Discard(const SpawnResult& r) {
  kill(-r.pid, SIGKILL);
  for (int fd : {r.out_fd, r.err_fd, r.pidfd}) {
    if (fd >= 0) ::close(fd);
  }
  std::thread([pid = r.pid] {
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
  }).detach();
}

struct SpawnJob {
  SpawnRequest req;
  SpawnResult result;
  napi_ref cb = nullptr;
  napi_async_context context = nullptr;
};

struct SpawnQueue : std::enable_shared_from_this<SpawnQueue> {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<SpawnJob*> todo;
  std::vector<SpawnJob*> done;
  size_t threads = 0, idle = 0, outstanding = 0;
  bool closed = false;
  uv_async_t* async = nullptr;  // on the environment's loop; nullptr once closed
  napi_env env = nullptr;

  void Submit(SpawnJob* job) {
    std::lock_guard<std::mutex> lock(mu);
    todo.push_back(job);
    if (outstanding++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(async));  // jobs keep the loop alive
    if (idle == 0 && threads < kMaxThreads) {
      threads++;
      std::thread([self = shared_from_this()] { self->Work(); }).detach();
    } else {
      cv.notify_one();
    }
  }

  void Work() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      idle++;
      cv.wait(lock, [this] { return closed || !todo.empty(); });
      idle--;
      if (closed) {
        threads--;
        return;
      }
      SpawnJob* job = todo.front();
      todo.pop_front();
      lock.unlock();
      job->result = nlmon::SpawnHook(job->req);
      lock.lock();
      if (closed) {
        // Nobody waits any more: do not leave the process running, nor its descriptors open.
        if (job->result.pid > 0) Discard(job->result);
        continue;  // the job's references went with the environment
      }
      done.push_back(job);
      uv_async_send(async);
    }
  }

  // On the loop: hands each finished spawn to its callback, cb(err) or cb(null, child).
  static void OnDone(uv_async_t* handle) {
    auto* q = static_cast<SpawnQueue*>(handle->data);
    std::vector<SpawnJob*> ready;
    {
      std::lock_guard<std::mutex> lock(q->mu);
      ready.swap(q->done);
      q->outstanding -= ready.size();
      if (q->outstanding == 0) uv_unref(reinterpret_cast<uv_handle_t*>(q->async));
    }
    for (SpawnJob* job : ready) {
      q->Deliver(job);
      delete job;
    }
  }

  void Deliver(SpawnJob* job) {
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) {
      if (job->result.pid > 0) Discard(job->result);
      return;
    }
    napi_value fn, recv, args[2];
    size_t argc = 0;
    if (CanCallJs(env) && napi_get_reference_value(env, job->cb, &fn) == napi_ok && fn &&
        napi_get_global(env, &recv) == napi_ok) {
      if (job->result.pid < 0) {
        args[0] = SystemError(env, job->result.error, job->req.file);
        argc = args[0] ? 1 : 0;
      } else if (napi_get_null(env, &args[0]) == napi_ok && napi_create_object(env, &args[1]) == napi_ok) {
        auto set = [&](const char* key, int v) {
          napi_value n;
          if (napi_create_int32(env, v, &n) == napi_ok) napi_set_named_property(env, args[1], key, n);
        };
        set("pid", job->result.pid);
        set("pidfd", job->result.pidfd);
        set("stdout", job->result.out_fd);
        set("stderr", job->result.err_fd);
        argc = 2;
      }
      if (argc) CallFromLoop(env, job->context, recv, fn, argc, args);
    }
    // A child whose callback could not be called is nobody's: without this its pidfd and pipes
    // stayed open and it was never reaped.
    if (argc < 2 && job->result.pid > 0) Discard(job->result);
    napi_close_handle_scope(env, scope);
    napi_delete_reference(env, job->cb);
    napi_async_destroy(env, job->context);
  }

  static void OnEnvCleanup(void* arg) {
    auto* holder = static_cast<std::shared_ptr<SpawnQueue>*>(arg);
    std::shared_ptr<SpawnQueue> q = *holder;
    delete holder;
    std::vector<SpawnJob*> pending;
    {
      std::lock_guard<std::mutex> lock(q->mu);
      q->closed = true;
      pending.assign(q->todo.begin(), q->todo.end());
      q->todo.clear();
      pending.insert(pending.end(), q->done.begin(), q->done.end());
      q->done.clear();
      q->cv.notify_all();
    }
    for (SpawnJob* job : pending) {
      if (job->result.pid > 0) Discard(job->result);
      delete job;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(q->async), [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
    q->async = nullptr;
  }
};

// The environment's spawn queue, made by InitSpawn when the addon is loaded.
SpawnQueue* QueueFor(napi_env env) {
  SpawnQueue* q = nullptr;
  napi_get_instance_data(env, reinterpret_cast<void**>(&q));
  return q;
}

SpawnQueue* MakeQueue(napi_env env) {
  SpawnQueue* q = nullptr;
  auto* holder = new std::shared_ptr<SpawnQueue>(std::make_shared<SpawnQueue>());
  q = holder->get();
  q->env = env;
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  q->async = new uv_async_t();
  q->async->data = q;
  uv_async_init(loop, q->async, SpawnQueue::OnDone);
  uv_unref(reinterpret_cast<uv_handle_t*>(q->async));
  napi_set_instance_data(env, q, nullptr, nullptr);
  napi_add_env_cleanup_hook(env, SpawnQueue::OnEnvCleanup, holder);
  return q;
}

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
  napi_ref cb = nullptr;
  napi_async_context context = nullptr;
  pid_t pid;
  int pidfd;

  // Starts polling the pidfd; false (and nothing kept) if it cannot.
  bool Start() {
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll.data = this;
    if (!loop || uv_poll_init(loop, &poll, pidfd) != 0) return false;
    napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
    uv_poll_start(&poll, UV_READABLE, OnReadable);
    return true;
  }

  static void OnReadable(uv_poll_t* h, int poll_status, int /*events*/) {
    ExitWatch* w = static_cast<ExitWatch*>(h->data);
    int status = 0;
    pid_t got = waitpid(w->pid, &status, WNOHANG);
    if (got == 0 && poll_status >= 0) return;  // not yet
    if (got == 0) {
      // The pidfd cannot be polled any more (POLLERR): the child would never be heard of. Kill
      // it, reap it on a thread of its own, and report the run as lost (code -1, no signal).
      kill(w->pid, SIGKILL);
      std::thread([pid = w->pid] {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
      }).detach();
      got = -1;
    }
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

  // The environment goes (a worker ends) while the child runs: nobody will hear of its exit.
  // It is killed and reaped apart, as a spawn nobody waits for is.
  static void OnEnvCleanup(void* arg) {
    ExitWatch* w = static_cast<ExitWatch*>(arg);
    kill(-w->pid, SIGKILL);
    std::thread([pid = w->pid] {
      int st;
      while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
    }).detach();
    w->Close();
  }

  void Close() {
    napi_remove_env_cleanup_hook(env, OnEnvCleanup, this);
    uv_poll_stop(&poll);
    napi_delete_reference(env, cb);
    if (context) napi_async_destroy(env, context);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll), [](uv_handle_t* h) {
      ExitWatch* w = static_cast<ExitWatch*>(h->data);
      ::close(w->pidfd);
      delete w;
    });
  }
};

}  // namespace

void InitSpawn(napi_env env) { MakeQueue(env); }

// spawnHook(file, argv, env, stdin, capture, cb[, identity[, captureStderr]])
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
  req.capture_stderr = info.Length() > 7 && info[7].IsBoolean() && info[7].As<Napi::Boolean>().Value();
  // identity: {uid, gid, groups[], caps[] (capability numbers), noNewPrivs}, or absent.
  if (info.Length() > 6 && info[6].IsObject()) {
    Napi::Object id = info[6].As<Napi::Object>();
    auto u32 = [&](const char* key, uint32_t* out) {
      Napi::Value v = id.Get(key);
      if (!v.IsNumber()) return false;
      const double d = v.As<Napi::Number>().DoubleValue();
      if (d < 0 || d > 4294967294.0 || d != static_cast<double>(static_cast<uint32_t>(d))) return false;
      *out = static_cast<uint32_t>(d);
      return true;
    };
    auto list = [&](const char* key, std::vector<uint32_t>* out, uint32_t max) {
      Napi::Value v = id.Get(key);
      if (!v.IsArray()) return false;
      Napi::Array a = v.As<Napi::Array>();
      if (a.Length() > 65536) return false;
      for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Value x = a.Get(i);
        if (!x.IsNumber()) return false;
        const double d = x.As<Napi::Number>().DoubleValue();
        if (d < 0 || d > max || d != static_cast<double>(static_cast<uint32_t>(d))) return false;
        out->push_back(static_cast<uint32_t>(d));
      }
      return true;
    };
    std::vector<uint32_t> caps;
    if (!u32("uid", &req.uid) || !u32("gid", &req.gid) || !list("groups", &req.groups, 4294967294u) || !list("caps", &caps, 63)) {
      Napi::TypeError::New(env, "spawnHook identity: {uid, gid, groups[], caps[], noNewPrivs}").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    for (uint32_t c : caps) req.caps |= uint64_t{1} << c;
    req.no_new_privs = id.Get("noNewPrivs").ToBoolean().Value();
    req.set_identity = true;
  }
  auto* job = new SpawnJob();
  job->req = std::move(req);
  napi_value name;
  napi_create_string_utf8(env, "nlmon.spawnHook", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, nullptr, name, &job->context);
  napi_create_reference(env, info[5], 1, &job->cb);
  QueueFor(env)->Submit(job);
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
  ExitWatch* w = new ExitWatch();
  w->env = env;
  w->pid = info[0].As<Napi::Number>().Int32Value();
  w->pidfd = info[1].As<Napi::Number>().Int32Value();
  napi_value name;
  napi_create_string_utf8(env, "nlmon.watchExit", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, nullptr, name, &w->context);
  napi_create_reference(env, info[2], 1, &w->cb);
  if (!w->Start()) {
    napi_delete_reference(env, w->cb);
    napi_async_destroy(env, w->context);
    delete w;
    Napi::Error::New(env, "watchExit: cannot poll the pidfd").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return env.Undefined();
}

}  // namespace nlmon
