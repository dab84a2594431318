// link_watcher_binding: the LinkWatcher class. It opens one netlink socket (netlink_socket.cc),
// hands it to the reader thread (read_ahead.cc), and on the environment's own loop decodes what
// was read ahead and hands each batch to JavaScript packed.
#include <unistd.h>
#include <uv.h>

#include <cstring>
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

// Datagrams decoded per turn of the loop, so one busy namespace cannot starve the loop.
constexpr size_t kMaxDatagramsPerWake = 256;

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
    wake_ = new Wake();
    wake_->owner = this;
    wake_->handle.data = wake_;
    if (uv_async_init(loop, &wake_->handle, OnWake) != 0) {
      ::close(r.fd);
      delete wake_;
      wake_ = nullptr;
      Napi::Error::New(env, "uv_async_init failed").ThrowAsJavaScriptException();
      return;
    }
    // The queue holds the bytes of receive buffer asked for: half what the kernel grants.
    int err = 0;
    queue_ = SocketQueue::Open(r.fd, static_cast<size_t>(r.receive_buffer) / 2, WakeFromReader, &wake_->handle, &err);
    if (!queue_) {
      wake_->owner = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(&wake_->handle), OnHandleClosed);
      wake_ = nullptr;
      ThrowSystemError(env, SysError{err, "epoll_ctl"}, path);
      return;
    }
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
  struct Wake {
    uv_async_t handle;  // sent by the reader thread when it has queued datagrams, and by Drain
    LinkWatcher* owner = nullptr;
  };

  static void OnHandleClosed(uv_handle_t* h) { delete static_cast<Wake*>(h->data); }

  static void OnEnvCleanup(void* arg) { static_cast<LinkWatcher*>(arg)->Shutdown(); }

  // Stops the reader reading the socket and closes it, then the wake-up handle. Idempotent.
  void Shutdown() {
    if (!wake_) return;
    napi_remove_env_cleanup_hook(Env(), OnEnvCleanup, this);
    queue_->Close();  // no wake-up is sent after this
    truncated_ = queue_->truncated();
    queue_.reset();
    taken_.Clear();
    more_ = false;
    wake_->owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_->handle), OnHandleClosed);
    wake_ = nullptr;
    delete context_;
    context_ = nullptr;
  }

  // pause(): stop handing batches over (a consumer that cannot keep up); the reader fills the
  // queue, then stops reading, the kernel queues, then overruns, and the overrun is handed over
  // in its place after resume(). resume(): hand over again.
  Napi::Value Pause(const Napi::CallbackInfo& info) {
    paused_ = true;
    return info.Env().Undefined();
  }

  Napi::Value Resume(const Napi::CallbackInfo& info) {
    if (wake_ && paused_) {
      paused_ = false;
      uv_async_send(&wake_->handle);
    }
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (wake_) {
      Shutdown();
      Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value RequestDump(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!wake_) {
      Napi::Error::New(env, "requestDump on a closed watcher").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    // requestDump(seq, what, target): what 'addr' dumps the addresses; anything else the links;
    // a target (a namespace id here, >= 0) dumps that namespace's.
    const uint32_t seq = info.Length() > 0 ? info[0].ToNumber().Uint32Value() : 1;
    const bool addrs = info.Length() > 1 && info[1].IsString() && info[1].As<Napi::String>().Utf8Value() == "addr";
    const int32_t target = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : -1;
    const int err = addrs ? SendAddrDump(queue_->fd(), seq, target) : SendLinkDump(queue_->fd(), seq, target);
    if (err != 0) ThrowSystemError(env, SysError{err, "sendto"}, "");
    return env.Undefined();
  }

  // requestNsid(seq, fd, target, peer): RTM_GETNSID for the namespace open as fd (or, with fd
  // -1, the one with id peer here), as the namespace with id target (>= 0) knows it, or as this
  // socket's does; the answer comes in a batch.
  Napi::Value RequestNsid(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!wake_) {
      Napi::Error::New(env, "requestNsid on a closed watcher").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
      Napi::TypeError::New(env, "requestNsid(seq, fd)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const int32_t target = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : -1;
    const int32_t peer = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : -1;
    const int err = SendGetNsid(queue_->fd(), info[0].As<Napi::Number>().Uint32Value(), info[1].As<Napi::Number>().Int32Value(), target, peer);
    if (err != 0) ThrowSystemError(env, SysError{err, "sendto"}, "");
    return env.Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("datagrams", Napi::Number::New(env, static_cast<double>(datagrams_)));
    o.Set("messages", Napi::Number::New(env, static_cast<double>(stats_.messages)));
    o.Set("malformed", Napi::Number::New(env, static_cast<double>(stats_.malformed + (queue_ ? queue_->truncated() : truncated_))));
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

  // From the reader thread (read_ahead.hh): uv_async_send is the one libuv call safe there.
  static void WakeFromReader(void* arg) { uv_async_send(static_cast<uv_async_t*>(arg)); }

  static void OnWake(uv_async_t* handle) {
    Wake* w = static_cast<Wake*>(handle->data);
    if (w->owner) w->owner->Drain();
  }

  // Calls fn(args) with the async context (see CallFromLoop). Raw N-API throughout: this runs
  // from libuv, and in a worker being terminated any call may fail, which must not be fatal.
  void Call(Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
    for (napi_value a : args) {
      if (a == nullptr) return;  // an argument could not be created
    }
    CallFromLoop(Env(), *context_, Value(), fn.Value(), args.size(), args.begin());
  }

  void Drain() {
    napi_env env = Env();
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    if (CanCallJs(env)) DrainInScope(env);  // else the cleanup hook closes the socket
    napi_close_handle_scope(env, scope);
  }

  // Decodes up to kMaxDatagramsPerWake datagrams of what was read ahead, in order, and hands
  // them over; an overrun or an error is handed over in its place, after the records before it.
  // What is left waits for the next turn of the loop.
  void DrainInScope(napi_env env) {
    if (paused_) return;
    if (!more_) {
      more_ = queue_->Take(&taken_);
      if (!more_) return;
    }
    records_.clear();
    size_t datagrams = 0, released = 0;
    EntryHeader h{EntryKind::kDatagram, 0, 0};
    const uint8_t* data = nullptr;
    while (datagrams < kMaxDatagramsPerWake && (more_ = taken_.Next(&h, &data))) {
      released += EntrySize(h.len);
      if (h.kind != EntryKind::kDatagram) break;
      datagrams++;
      const size_t first = records_.size();
      DecodeDatagram(data, h.len, &records_, &stats_);
      if (h.value >= 0) {
        for (size_t k = first; k < records_.size(); k++) records_[k].origin_nsid = h.value;
      }
    }
    datagrams_ += datagrams;
    queue_->Release(released);
    if (!records_.empty()) {
      napi_value ints, strs, count;
      if (PackRecords(env, records_, &ints, &strs) &&
          napi_create_double(env, static_cast<double>(records_.size()), &count) == napi_ok) {
        Call(on_batch_, {ints, strs, count});
      }
      if (!wake_) return;  // closed from inside the callback
    }
    if (more_ && h.kind == EntryKind::kOverrun) {
      Call(on_overrun_, {});
    } else if (more_ && h.kind == EntryKind::kError) {
      Call(on_error_, {SystemError(env, SysError{h.value, "recvmmsg"}, "")});
    }
    // What is left (taken, or queued since) waits for the next turn of the loop.
    if (wake_ && !paused_ && (more_ || (more_ = queue_->Take(&taken_)))) uv_async_send(&wake_->handle);
  }

  Wake* wake_ = nullptr;
  std::shared_ptr<SocketQueue> queue_;
  Entries taken_;      // entries taken from the queue, not decoded yet
  bool more_ = false;  // taken_ may hold more
  Napi::AsyncContext* context_ = nullptr;
  Napi::FunctionReference on_batch_, on_overrun_, on_error_;
  std::vector<LinkRecord> records_;
  DecodeStats stats_;
  uint64_t datagrams_ = 0, truncated_ = 0;
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
