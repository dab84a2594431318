// binding: the thin Node-API layer. A LinkWatcher polls one netlink socket with uv_poll on the
// environment's own loop and hands each drained batch to JavaScript as packed arrays.
#include <errno.h>
#include <napi.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <string>
#include <vector>

#include "hook_spawn.hh"
#include "link_decoder.hh"
#include "netlink_socket.hh"

namespace {

using nlmon::LinkRecord;

// Datagrams drained per readiness callback, so one busy namespace cannot starve the loop.
constexpr size_t kMaxDatagramsPerWake = 256;
// Coalescing under load (see PauseIfBusy): a wake-up within kBusyGapNs of the previous one that
// found fewer than kEnoughDatagrams datagrams pauses polling for kPauseMs.
constexpr uint64_t kBusyGapNs = 2'000'000;
constexpr size_t kEnoughDatagrams = 64;
constexpr uint64_t kPauseMs = 1;
// Int32 fields per record in the packed batch; the order is mirrored in src/native.ts.
constexpr size_t kIntsPerRecord = 14;

// False while the environment is being torn down (a worker terminating): N-API calls that run
// JavaScript then fail. Checked before each batch so a dying environment does no work; a
// termination that lands mid-batch is absorbed by NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS.
bool CanCallJs(napi_env env) {
  napi_value probe;
  return napi_create_arraybuffer(env, 0, nullptr, &probe) == napi_ok;
}

// A Node-style error (message, code, errno, syscall, path), built with raw N-API calls so that it
// is safe on the poll path too; nullptr if the environment cannot create one (shutting down).
napi_value SystemError(napi_env env, const nlmon::SysError& e, const std::string& path) {
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

void ThrowSystemError(napi_env env, const nlmon::SysError& e, const std::string& path) {
  napi_value err = SystemError(env, e, path);
  if (err) napi_throw(env, err);
}

// Packs records as (Int32Array of kIntsPerRecord per record, string of 4 fields per record
// joined by NUL). Building plain objects in JavaScript is far cheaper than per-field N-API calls.
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
    *p++ = static_cast<int32_t>(r.mtu);
    *p++ = static_cast<int32_t>(r.txqlen);
    *p++ = r.master;
    *p++ = r.link;
    *p++ = r.link_netnsid;
    *p++ = r.operstate;
    for (const std::string* f : {&r.ifname, &r.address, &r.kind_name, &r.alias}) {
      strs += *f;
      strs.push_back('\0');
    }
  }
  return napi_create_typedarray(env, napi_int32_array, n * kIntsPerRecord, ab, 0, ints_out) == napi_ok &&
         napi_create_string_utf8(env, strs.data(), strs.size(), strs_out) == napi_ok;
}

// decode(buffer): decodes one recorded datagram; for tests and tools, no socket involved.
Napi::Value Decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "decode(buffer): a Buffer is required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  std::vector<LinkRecord> recs;
  nlmon::DecodeStats stats;
  nlmon::DecodeDatagram(bytes.Data(), bytes.ByteLength(), &recs, &stats);
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

class LinkWatcher : public Napi::ObjectWrap<LinkWatcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "LinkWatcher",
                       {InstanceMethod<&LinkWatcher::RequestDump>("requestDump"),
                        InstanceMethod<&LinkWatcher::Close>("close"),
                        InstanceMethod<&LinkWatcher::Stats>("stats"),
                        InstanceAccessor<&LinkWatcher::ReceiveBuffer>("receiveBuffer"),
                        InstanceAccessor<&LinkWatcher::ReceiveBufferForced>("receiveBufferForced"),
                        InstanceAccessor<&LinkWatcher::PortId>("portId")});
  }

  // new LinkWatcher({ netns, receiveBuffer, onBatch(ints, strings, count), onOverrun(), onError(err) })
  explicit LinkWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LinkWatcher>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      Napi::TypeError::New(env, "LinkWatcher(options) needs an options object")
          .ThrowAsJavaScriptException();
      return;
    }
    Napi::Object opts = info[0].As<Napi::Object>();
    Napi::Value netns = opts.Get("netns"), rcvbuf = opts.Get("receiveBuffer");
    Napi::Value on_batch = opts.Get("onBatch"), on_overrun = opts.Get("onOverrun"),
                on_error = opts.Get("onError");
    if (!netns.IsString() || !rcvbuf.IsNumber() || !on_batch.IsFunction() ||
        !on_overrun.IsFunction() || !on_error.IsFunction()) {
      Napi::TypeError::New(env, "LinkWatcher options: netns (string), receiveBuffer (number), "
                                "onBatch, onOverrun, onError (functions) are required")
          .ThrowAsJavaScriptException();
      return;
    }
    const std::string path = netns.As<Napi::String>().Utf8Value();
    nlmon::OpenResult r = nlmon::OpenLinkSocket(path, rcvbuf.As<Napi::Number>().Int32Value());
    if (r.fd < 0) {
      ThrowSystemError(env, r.error, path);
      return;
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
      ::close(r.fd);
      Napi::Error::New(env, "no event loop").ThrowAsJavaScriptException();
      return;
    }
    poll_ = new Poll();
    poll_->fd = r.fd;
    poll_->owner = this;
    poll_->handle.data = poll_;
    poll_->pause.data = poll_;
    if (uv_poll_init(loop, &poll_->handle, r.fd) != 0) {
      ::close(r.fd);
      delete poll_;
      poll_ = nullptr;
      Napi::Error::New(env, "uv_poll_init failed").ThrowAsJavaScriptException();
      return;
    }
    uv_timer_init(loop, &poll_->pause);
    poll_->open_handles = 2;
    uv_poll_start(&poll_->handle, UV_READABLE, OnReadable);
    port_id_ = r.port_id;
    receive_buffer_ = r.receive_buffer;
    receive_buffer_forced_ = r.forced;
    on_batch_ = Napi::Persistent(on_batch.As<Napi::Function>());
    on_overrun_ = Napi::Persistent(on_overrun.As<Napi::Function>());
    on_error_ = Napi::Persistent(on_error.As<Napi::Function>());
    context_ = new Napi::AsyncContext(env, "nlmon.LinkWatcher", Value());
    napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
    Ref();  // an open watcher stays alive until close()
  }

  ~LinkWatcher() override { Shutdown(); }

 private:
  struct Poll {
    uv_poll_t handle;
    uv_timer_t pause;  // re-arms the poll after a short pause under load (see PauseIfBusy)
    int open_handles = 0;
    int fd = -1;
    LinkWatcher* owner = nullptr;
  };

  // Handles are closed before the fd, and the memory is freed when the last one is closed.
  static void OnHandleClosed(uv_handle_t* h) {
    Poll* p = static_cast<Poll*>(h->data);
    if (--p->open_handles > 0) return;
    ::close(p->fd);
    delete p;
  }

  static void OnEnvCleanup(void* arg) { static_cast<LinkWatcher*>(arg)->Shutdown(); }

  // Stops polling and closes the handle, then the fd in the close callback. Idempotent.
  void Shutdown() {
    if (!poll_) return;
    napi_remove_env_cleanup_hook(Env(), OnEnvCleanup, this);
    uv_poll_stop(&poll_->handle);
    uv_timer_stop(&poll_->pause);
    poll_->owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_->handle), OnHandleClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_->pause), OnHandleClosed);
    poll_ = nullptr;
    delete context_;
    context_ = nullptr;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (poll_) {
      Shutdown();
      Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value RequestDump(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!poll_) {
      Napi::Error::New(env, "requestDump on a closed watcher").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const uint32_t seq = info.Length() > 0 ? info[0].ToNumber().Uint32Value() : 1;
    const int err = nlmon::SendLinkDump(poll_->fd, seq);
    if (err != 0) ThrowSystemError(env, nlmon::SysError{err, "sendto"}, "");
    return env.Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("datagrams", Napi::Number::New(env, static_cast<double>(datagrams_)));
    o.Set("messages", Napi::Number::New(env, static_cast<double>(stats_.messages)));
    o.Set("malformed", Napi::Number::New(env, static_cast<double>(stats_.malformed + truncated_)));
    o.Set("ignored", Napi::Number::New(env, static_cast<double>(stats_.ignored)));
    return o;
  }

  Napi::Value ReceiveBuffer(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), receive_buffer_);
  }
  Napi::Value ReceiveBufferForced(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), receive_buffer_forced_);
  }
  Napi::Value PortId(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), port_id_);
  }

  static void OnReadable(uv_poll_t* handle, int status, int /*events*/) {
    Poll* p = static_cast<Poll*>(handle->data);
    if (p->owner) p->owner->Drain(status);
  }

  static void OnPauseEnd(uv_timer_t* timer) {
    Poll* p = static_cast<Poll*>(timer->data);
    if (p->owner) uv_poll_start(&p->handle, UV_READABLE, OnReadable);
  }

  // Under a sustained stream every readiness brings only a few messages, and the fixed cost
  // of a wake-up (the call into JavaScript, one write of output) dominates. When a wake-up
  // comes soon after the previous one and the socket is already empty, polling pauses for
  // kPauseMs, so the next batch holds a millisecond's worth of messages. At low rates nothing
  // waits; the pause is far shorter than the time the receive buffer can hold.
  void PauseIfBusy(size_t datagrams, nlmon::DrainEnd end) {
    const uint64_t now = uv_hrtime();
    const bool busy = now - last_wake_ns_ < kBusyGapNs;
    last_wake_ns_ = now;
    if (!busy || end != nlmon::DrainEnd::kEmpty || datagrams >= kEnoughDatagrams || !poll_) return;
    uv_poll_stop(&poll_->handle);
    uv_timer_start(&poll_->pause, OnPauseEnd, kPauseMs, 0);
  }

  // Calls fn(args) with the async context; a throw becomes an uncaught exception, as for
  // any other event-loop callback in Node. Raw N-API throughout: this runs from libuv, and
  // in a worker being terminated any call may fail, which must not become a fatal error.
  void Call(Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
    napi_env env = Env();
    for (napi_value a : args) {
      if (a == nullptr) return;  // an argument could not be created
    }
    napi_value result;
    napi_make_callback(env, *context_, Value(), fn.Value(), args.size(), args.begin(), &result);
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      if (CanCallJs(env)) napi_fatal_exception(env, exc);
    }
  }

  void Drain(int status) {
    napi_env env = Env();
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    if (CanCallJs(env)) DrainInScope(env, status);  // else the cleanup hook closes the socket
    napi_close_handle_scope(env, scope);
  }

  void DrainInScope(napi_env env, int status) {
    bool overrun = false;
    if (status < 0) {
      // libuv reports POLLERR as an error and stops the handle. On a netlink socket POLLERR
      // is how the kernel says it dropped messages (ENOBUFS): read the error, poll again.
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(poll_->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
      if (err != 0 && err != ENOBUFS) {
        Call(on_error_, {SystemError(env, nlmon::SysError{err, "poll"}, "")});
        return;
      }
      overrun = err == ENOBUFS;
      uv_poll_start(&poll_->handle, UV_READABLE, OnReadable);
    }
    records_.clear();
    nlmon::DrainResult r = nlmon::DrainSocket(poll_->fd, kMaxDatagramsPerWake, &records_, &stats_);
    datagrams_ += r.datagrams;
    truncated_ += r.truncated;
    PauseIfBusy(r.datagrams, r.end);
    if (!records_.empty()) {
      napi_value ints, strs, count;
      if (!PackRecords(env, records_, &ints, &strs) ||
          napi_create_double(env, static_cast<double>(records_.size()), &count) != napi_ok) {
        return;
      }
      Call(on_batch_, {ints, strs, count});
      if (!poll_) return;  // closed from inside the callback
    }
    if (overrun || r.end == nlmon::DrainEnd::kOverrun) {
      Call(on_overrun_, {});
    } else if (r.end == nlmon::DrainEnd::kError) {
      Call(on_error_, {SystemError(env, r.error, "")});
    }
  }

  Poll* poll_ = nullptr;
  Napi::AsyncContext* context_ = nullptr;
  Napi::FunctionReference on_batch_, on_overrun_, on_error_;
  std::vector<LinkRecord> records_;
  nlmon::DecodeStats stats_;
  uint64_t datagrams_ = 0, truncated_ = 0;
  uint64_t last_wake_ns_ = 0;
  uint32_t port_id_ = 0;
  int receive_buffer_ = 0;
  bool receive_buffer_forced_ = false;
};

// spawnHook(file, argv, env, stdin, capture, cb): posix_spawn on libuv's thread pool, so that
// neither the fork-free spawn nor the exec blocks the loop; cb(err, {pid, pidfd, stdout, stderr}).
class SpawnWorker : public Napi::AsyncWorker {
 public:
  SpawnWorker(Napi::Function cb, nlmon::SpawnRequest req) : Napi::AsyncWorker(cb, "nlmon.spawnHook"), req_(std::move(req)) {}
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
  nlmon::SpawnRequest req_;
  nlmon::SpawnResult result_;
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

Napi::Value SpawnHookFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  nlmon::SpawnRequest req;
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
// the pidfd is closed. Polled on the loop like the netlink sockets; raw N-API for the same reason.
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
      napi_value fn, recv, args[2], result;
      if (CanCallJs(w->env) && napi_get_reference_value(w->env, w->cb, &fn) == napi_ok && fn &&
          napi_get_global(w->env, &recv) == napi_ok && napi_create_int32(w->env, code, &args[0]) == napi_ok &&
          napi_create_int32(w->env, sig, &args[1]) == napi_ok) {
        napi_make_callback(w->env, w->context, recv, fn, 2, args, &result);
        bool pending = false;
        if (napi_is_exception_pending(w->env, &pending) == napi_ok && pending) {
          napi_value exc;
          napi_get_and_clear_last_exception(w->env, &exc);
          if (CanCallJs(w->env)) napi_fatal_exception(w->env, exc);
        }
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

Napi::Value WatchExitFn(const Napi::CallbackInfo& info) {
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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("LinkWatcher", LinkWatcher::Define(env));
  exports.Set("decode", Napi::Function::New(env, Decode, "decode"));
  exports.Set("spawnHook", Napi::Function::New(env, SpawnHookFn, "spawnHook"));
  exports.Set("watchExit", Napi::Function::New(env, WatchExitFn, "watchExit"));
  exports.Set("intsPerRecord", Napi::Number::New(env, kIntsPerRecord));
  return exports;
}

}  // namespace

NODE_API_MODULE(nlmon, Init)
