// link_watcher_binding: the LinkWatcher class. It polls one netlink socket (netlink_socket.cc)
// with uv_poll on the environment's own loop and hands each drained batch to JavaScript packed;
// when it falls behind, the reader thread reads the socket ahead into a queue (read_ahead.hh),
// which it takes, in order, before it reads the socket again.
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "bindings.hh"
#include "js_call.hh"
#include "link_decoder.hh"
#include "netlink_socket.hh"
#include "read_ahead.hh"
#include "record_pack.hh"

namespace nlmon {
namespace {

// Datagrams drained per readiness callback, so one busy namespace cannot starve the loop.
constexpr size_t kMaxDatagramsPerWake = 256;
// Coalescing under load (see PauseIfBusy): a wake-up within kBusyGapNs of the previous one that
// found fewer than kEnoughDatagrams datagrams pauses polling for kPauseMs. The gap is longer than
// the pause, so the wake-up that ends a pause counts as busy: a sustained stream is read once per
// pause. Shorter than the read-ahead's kStallNs (read_ahead.hh), which would take a pause for a
// stall. 1 ms before 2026-12-07: a wake-up costs far more than its events (README, "Measured").
constexpr uint64_t kPauseMs = 4;
constexpr uint64_t kBusyGapNs = (kPauseMs + 1) * 1'000'000;
constexpr size_t kEnoughDatagrams = 64;

class LinkWatcher : public Napi::ObjectWrap<LinkWatcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "LinkWatcher",
                       {InstanceMethod<&LinkWatcher::RequestDump>("requestDump"),
                        InstanceMethod<&LinkWatcher::Close>("close"),
                        InstanceMethod<&LinkWatcher::Pause>("pause"),
                        InstanceMethod<&LinkWatcher::RequestNsid>("requestNsid"),
                        InstanceMethod<&LinkWatcher::Resume>("resume"),
                        InstanceMethod<&LinkWatcher::Stats>("stats"),
                        InstanceAccessor<&LinkWatcher::ReceiveBuffer>("receiveBuffer"),
                        InstanceAccessor<&LinkWatcher::ReceiveBufferForced>("receiveBufferForced"),
                        InstanceAccessor<&LinkWatcher::PortId>("portId")});
  }

  // new LinkWatcher({ netns, receiveBuffer, addresses, onBatch(ints, strings, count), onOverrun(),
  //                   onError(err) })
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
    const Napi::Value addresses = opts.Get("addresses"), all_nsid = opts.Get("allNsid");
    OpenResult r = OpenLinkSocket(path, rcvbuf.As<Napi::Number>().Int32Value(),
                                  addresses.IsBoolean() && addresses.As<Napi::Boolean>().Value(),
                                  all_nsid.IsBoolean() && all_nsid.As<Napi::Boolean>().Value());
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
    // The queue read ahead holds the bytes of receive buffer asked for: half what was granted.
    int err = 0;
    poll_ = new Poll();
    poll_->queue = SocketQueue::Open(r.fd, static_cast<size_t>(r.receive_buffer) / 2, WakeFromReader, &poll_->wake, &err);
    if (!poll_->queue) {
      delete poll_;
      poll_ = nullptr;
      ThrowSystemError(env, SysError{err, "epoll_ctl"}, path);
      return;
    }
    poll_->fd = r.fd;
    poll_->owner = this;
    poll_->handle.data = poll_;
    poll_->pause.data = poll_;
    poll_->wake.data = poll_;
    if (uv_poll_init(loop, &poll_->handle, r.fd) != 0) {
      poll_->queue->Close();
      delete poll_;
      poll_ = nullptr;
      Napi::Error::New(env, "uv_poll_init failed").ThrowAsJavaScriptException();
      return;
    }
    uv_timer_init(loop, &poll_->pause);
    uv_async_init(loop, &poll_->wake, OnWake);
    poll_->open_handles = 3;
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
    uv_async_t wake;   // sent by the reader thread when it has read ahead, and by Drain
    int open_handles = 0;
    int fd = -1;       // owned by queue, which closes it
    std::shared_ptr<SocketQueue> queue;
    LinkWatcher* owner = nullptr;
  };

  // The memory is freed when the last handle is closed.
  static void OnHandleClosed(uv_handle_t* h) {
    Poll* p = static_cast<Poll*>(h->data);
    if (--p->open_handles == 0) delete p;
  }

  static void OnEnvCleanup(void* arg) { static_cast<LinkWatcher*>(arg)->Shutdown(); }

  // Stops polling and closes the handle, then the fd in the close callback. Idempotent.
  void Shutdown() {
    if (!poll_) return;
    napi_remove_env_cleanup_hook(Env(), OnEnvCleanup, this);
    uv_poll_stop(&poll_->handle);
    uv_timer_stop(&poll_->pause);
    poll_->owner = nullptr;
    poll_->queue->Close();  // closes the fd; the reader sends no wake-up after this
    queue_counts_ = poll_->queue->counts();
    taken_.Clear();
    more_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_->handle), OnHandleClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_->pause), OnHandleClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_->wake), OnHandleClosed);
    poll_ = nullptr;
    delete context_;
    context_ = nullptr;
  }

  // pause(): stop reading the socket (a consumer that cannot keep up); the reader reads it ahead
  // until the queue is full, the kernel queues, then overruns, and the overrun is handed over in
  // its place after resume(). resume(): read again.
  Napi::Value Pause(const Napi::CallbackInfo& info) {
    if (poll_ && !paused_) {
      paused_ = true;
      uv_poll_stop(&poll_->handle);
      uv_timer_stop(&poll_->pause);
    }
    return info.Env().Undefined();
  }

  Napi::Value Resume(const Napi::CallbackInfo& info) {
    if (poll_ && paused_) {
      paused_ = false;
      uv_poll_start(&poll_->handle, UV_READABLE, OnReadable);
      uv_async_send(&poll_->wake);  // what was read ahead meanwhile
    }
    return info.Env().Undefined();
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
    // requestDump(seq, what, target): what 'addr' dumps the addresses; anything else the links;
    // a target (a namespace id here, >= 0) dumps that namespace's.
    const uint32_t seq = info.Length() > 0 ? info[0].ToNumber().Uint32Value() : 1;
    const bool addrs = info.Length() > 1 && info[1].IsString() && info[1].As<Napi::String>().Utf8Value() == "addr";
    const int32_t target = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : -1;
    const int err = addrs ? SendAddrDump(poll_->fd, seq, target) : SendLinkDump(poll_->fd, seq, target);
    if (err != 0) ThrowSystemError(env, SysError{err, "sendto"}, "");
    return env.Undefined();
  }

  // requestNsid(seq, fd, target, peer): RTM_GETNSID for the namespace open as fd (or, with fd
  // -1, the one with id peer here), as the namespace with id target (>= 0) knows it, or as this
  // socket's does; the answer comes in a batch.
  Napi::Value RequestNsid(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!poll_) {
      Napi::Error::New(env, "requestNsid on a closed watcher").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
      Napi::TypeError::New(env, "requestNsid(seq, fd)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const int32_t target = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : -1;
    const int32_t peer = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : -1;
    const int err = SendGetNsid(poll_->fd, info[0].As<Napi::Number>().Uint32Value(), info[1].As<Napi::Number>().Int32Value(), target, peer);
    if (err != 0) ThrowSystemError(env, SysError{err, "sendto"}, "");
    return env.Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("datagrams", Napi::Number::New(env, static_cast<double>(datagrams_)));
    o.Set("messages", Napi::Number::New(env, static_cast<double>(stats_.messages)));
    const SocketQueue::Counts q = poll_ ? poll_->queue->counts() : queue_counts_;
    o.Set("malformed", Napi::Number::New(env, static_cast<double>(stats_.malformed + truncated_ + q.truncated)));
    o.Set("ignored", Napi::Number::New(env, static_cast<double>(stats_.ignored)));
    o.Set("readAhead", Napi::Number::New(env, static_cast<double>(q.read_ahead)));
    o.Set("readAheadPeak", Napi::Number::New(env, static_cast<double>(q.peak)));
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

  // From the reader thread (read_ahead.hh): uv_async_send is the one libuv call safe there.
  static void WakeFromReader(void* arg) { uv_async_send(static_cast<uv_async_t*>(arg)); }

  static void OnWake(uv_async_t* handle) {
    Poll* p = static_cast<Poll*>(handle->data);
    if (p->owner && !p->owner->paused_) p->owner->Drain(0);
  }

  static void OnPauseEnd(uv_timer_t* timer) {
    Poll* p = static_cast<Poll*>(timer->data);
    if (p->owner && !p->owner->paused_) uv_poll_start(&p->handle, UV_READABLE, OnReadable);
  }

  // Under a sustained stream every readiness brings only a few messages, and the fixed cost
  // of a wake-up (the call into JavaScript, one write of output) dominates. When a wake-up
  // comes soon after the previous one and the socket is already empty, polling pauses for
  // kPauseMs, so the next batch holds that long's worth of messages. At low rates nothing
  // waits; the pause is far shorter than the time the receive buffer can hold.
  void PauseIfBusy(size_t datagrams, DrainEnd end) {
    const uint64_t now = uv_hrtime();
    const bool busy = now - last_wake_ns_ < kBusyGapNs;
    last_wake_ns_ = now;
    if (!busy || end != DrainEnd::kEmpty || datagrams >= kEnoughDatagrams || !poll_ || paused_) return;
    uv_poll_stop(&poll_->handle);
    uv_timer_start(&poll_->pause, OnPauseEnd, kPauseMs, 0);
  }

  // Calls fn(args) with the async context (see CallFromLoop). Raw N-API throughout: this runs
  // from libuv, and in a worker being terminated any call may fail, which must not be fatal.
  void Call(Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
    for (napi_value a : args) {
      if (a == nullptr) return;  // an argument could not be created
    }
    CallFromLoop(Env(), *context_, Value(), fn.Value(), args.size(), args.begin());
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
        Call(on_error_, {SystemError(env, SysError{err, "poll"}, "")});
        return;
      }
      overrun = err == ENOBUFS && !poll_->queue->QueueOverrun();  // else behind what is queued
      if (!paused_) uv_poll_start(&poll_->handle, UV_READABLE, OnReadable);
    }
    records_.clear();
    // What was read ahead comes first; the socket is read only when none is left.
    DrainResult r;
    if (more_ || (more_ = poll_->queue->TakeOrRead(&taken_, [&] {
          r = DrainSocket(poll_->fd, kMaxDatagramsPerWake, &records_, &stats_);
        }))) {
      DrainTaken(env, overrun);
      return;
    }
    datagrams_ += r.datagrams;
    truncated_ += r.truncated;
    PauseIfBusy(r.datagrams, r.end);
    if (!HandOver(env)) return;
    if (overrun || r.end == DrainEnd::kOverrun) {
      Call(on_overrun_, {});
    } else if (r.end == DrainEnd::kError) {
      Call(on_error_, {SystemError(env, r.error, "")});
    }
  }

  // Hands records_ to JavaScript as one packed batch. False when it could not, or when the
  // callback closed the watcher: then nothing more is to be done.
  bool HandOver(napi_env env) {
    if (records_.empty()) return true;
    napi_value ints, strs, count;
    if (!PackRecords(env, records_, &ints, &strs) ||
        napi_create_double(env, static_cast<double>(records_.size()), &count) != napi_ok) {
      return false;
    }
    Call(on_batch_, {ints, strs, count});
    return poll_ != nullptr;
  }

  // Decodes up to kMaxDatagramsPerWake datagrams of what was read ahead, in order, and hands them
  // over; an overrun or an error read ahead is handed over in its place, after the records
  // before it. What is left waits for the next turn of the loop.
  void DrainTaken(napi_env env, bool overrun) {
    size_t datagrams = 0, released = 0;
    EntryHeader h{EntryKind::kDatagram, 0, 0};
    const uint8_t* data = nullptr;
    while (datagrams < kMaxDatagramsPerWake && (more_ = taken_.Next(&h, &data))) {
      released += EntrySize(h.len);
      if (h.kind != EntryKind::kDatagram) break;
      datagrams++;
      DecodeFrom(data, h.len, h.value, &records_, &stats_);
    }
    datagrams_ += datagrams;
    poll_->queue->Release(released);
    if (!HandOver(env)) return;
    if (more_ && h.kind == EntryKind::kError) {
      Call(on_error_, {SystemError(env, SysError{h.value, "recvmmsg"}, "")});
      return;
    }
    if (overrun || (more_ && h.kind == EntryKind::kOverrun)) Call(on_overrun_, {});
    // The rest, or what was queued since (the reader's wake-up for it may have come while this
    // was being decoded), waits for the next turn of the loop.
    if (poll_ && !paused_ && (more_ || (more_ = poll_->queue->TakeOrRead(&taken_, nullptr)))) {
      uv_async_send(&poll_->wake);
    }
  }

  Poll* poll_ = nullptr;
  Entries taken_;      // taken from the queue read ahead, not decoded yet
  SocketQueue::Counts queue_counts_;  // the queue's, as it closed
  bool more_ = false;  // taken_ may hold more
  Napi::AsyncContext* context_ = nullptr;
  Napi::FunctionReference on_batch_, on_overrun_, on_error_;
  std::vector<LinkRecord> records_;
  DecodeStats stats_;
  uint64_t datagrams_ = 0, truncated_ = 0;
  uint64_t last_wake_ns_ = 0;
  uint32_t port_id_ = 0;
  int receive_buffer_ = 0;
  bool receive_buffer_forced_ = false;
  bool paused_ = false;
};

}  // namespace

Napi::Function DefineLinkWatcher(Napi::Env env) { return LinkWatcher::Define(env); }

// namespaceId(path) -> {nsid, ino}: see NamespaceId in netlink_socket.hh.
Napi::Value NamespaceIdOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "namespaceId(path)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  NsidResult r = NamespaceId(path);
  if (r.error.code != 0) {
    ThrowSystemError(env, r.error, path);
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("nsid", Napi::Number::New(env, r.nsid));
  out.Set("ino", Napi::Number::New(env, static_cast<double>(r.ino)));
  return out;
}

}  // namespace nlmon
