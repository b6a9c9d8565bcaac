// inferlab's native issue queue: a LoadGen SystemUnderTest whose IssueQuery runs no Python.
//
// LoadGen's issue thread(s) call IssueQuery; it appends (id, index) pairs to a buffer under a
// mutex and wakes the taker. A Python "pump" thread drains the buffer in bulk through ctypes
// (which releases the GIL for the foreign call, so a blocked take costs no GIL) and feeds
// inferlab's dispatcher. FlushQueries records a flush mark: the take that returns the last
// sample issued before it also reports the flush.
//
// LoadGen is not linked: the Python binding takes the SUT as an integer and reinterpret-casts
// it to mlperf::SystemUnderTest*, so this file only has to declare a class with the same
// virtual layout as loadgen/system_under_test.h (same order of virtual functions, same
// argument types; the std::string ABI is chosen by the build to match the installed wheel).
//
// Compiled by inferlab.loadgen.native: g++ -O2 -shared -fPIC -std=c++17 -pthread.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <new>
#include <string>
#include <vector>

namespace mlperf {

// Same members, same order, as LoadGen's query_sample.h / system_under_test.h.
struct QuerySample {
  uintptr_t id;
  size_t index;
};

class SystemUnderTest {
 public:
  virtual ~SystemUnderTest() {}
  virtual const std::string& Name() = 0;
  virtual void IssueQuery(const std::vector<QuerySample>& samples) = 0;
  virtual void FlushQueries() = 0;
};

}  // namespace mlperf

namespace {

// Bumped whenever the C API below changes; the Python side refuses another value.
constexpr int kAbiVersion = 2;

constexpr int kFlagFlushed = 1;  // a flush was requested at or before the last sample taken
constexpr int kFlagClosed = 2;   // closed and nothing left to take
constexpr int kFlagQuery = 4;    // the samples taken are one LoadGen query of several samples

#define INFERLAB_API extern "C" __attribute__((visibility("default")))

class NativeSut final : public mlperf::SystemUnderTest {
 public:
  explicit NativeSut(const char* name) : name_(name ? name : "inferlab-native") {}

  const std::string& Name() override { return name_; }

  void IssueQuery(const std::vector<mlperf::QuerySample>& samples) override {
    if (samples.empty()) return;
    bool wake;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // A taker waits for a first sample (nothing buffered) or, lingering, for a count of
      // them (want_): wake it only when that changes, not for every sample.
      wake = buf_.size() == head_ ||
             (want_ > issued_ && (want_ <= issued_ + samples.size() || samples.size() > 1));
      if (samples.size() > 1) queries_.push_back({issued_, samples.size()});
      buf_.insert(buf_.end(), samples.begin(), samples.end());
      issued_ += samples.size();
    }
    if (wake) cv_.notify_all();
  }

  void FlushQueries() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      flush_mark_ = issued_;
      flush_pending_ = true;
      ++flushes_;
    }
    cv_.notify_all();
  }

  // Oldest samples first, one segment at a time: either a run of consecutive one-sample
  // queries (at most max of them) or exactly one query of several samples, whole (then
  // *flags has kFlagQuery; when it needs more than max slots nothing is taken and *need gets
  // its size). Blocks until a sample is buffered, a flush is pending, the queue is closed or
  // timeout_s passes (timeout_s < 0: no timeout). *flags gets kFlagFlushed when the samples
  // returned reach the last flush mark (each flush is reported once: by the take that returns
  // the last sample issued before it, or by an empty take when none was left), and
  // kFlagClosed when closed and nothing is left.
  //
  // Lingering: once a sample is there, while fewer than min_n are buffered, wait up to
  // linger_s more (a flush, close or multi-sample query ends it at once), so that a busy
  // stream of one-sample queries is taken in bigger and fewer pieces.
  size_t Take(uint64_t* ids, uint64_t* idx, size_t max, double timeout_s, size_t min_n,
              double linger_s, int* flags, size_t* need) {
    std::unique_lock<std::mutex> lock(mu_);
    auto ready = [this] { return buf_.size() > head_ || flush_pending_ || closed_; };
    if (!ready()) {
      if (timeout_s < 0) {
        cv_.wait(lock, ready);
      } else {
        cv_.wait_for(lock, Seconds(timeout_s), ready);
      }
    }
    if (linger_s > 0 && min_n > 1 && buf_.size() > head_) {
      uint64_t want = taken_ + min_n;
      auto enough = [this, want] {
        return issued_ >= want || flush_pending_ || closed_ || !queries_.empty();
      };
      if (!enough()) {
        want_ = want;
        cv_.wait_for(lock, Seconds(linger_s), enough);
        want_ = 0;
      }
    }
    // The flush mark bounds this take. It always lies between two queries: IssueQuery
    // appends a whole query under the lock, FlushQueries reads the count under it.
    uint64_t limit = buf_.size() - head_;
    bool mark_in_reach = false;
    if (flush_pending_ && flush_mark_ - taken_ <= limit) {
      limit = flush_mark_ - taken_;
      mark_in_reach = true;
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(limit, max));
    int out_flags = 0;
    *need = 0;
    if (!queries_.empty() && limit > 0) {
      const Query& q = queries_.front();
      if (q.start == taken_) {  // a multi-sample query is next: all of it or nothing
        if (q.size > max) {
          *need = static_cast<size_t>(q.size);
          n = 0;
        } else {
          n = static_cast<size_t>(q.size);
          out_flags |= kFlagQuery;
          queries_.pop_front();
        }
      } else {  // one-sample queries up to the next multi-sample one
        n = static_cast<size_t>(std::min<uint64_t>(n, q.start - taken_));
      }
    }
    if (mark_in_reach && *need == 0 && taken_ + n == flush_mark_) {
      out_flags |= kFlagFlushed;
      flush_pending_ = false;
    }
    const mlperf::QuerySample* src = buf_.data() + head_;
    for (size_t k = 0; k < n; ++k) {
      ids[k] = static_cast<uint64_t>(src[k].id);
      idx[k] = static_cast<uint64_t>(src[k].index);
    }
    head_ += n;
    taken_ += n;
    if (head_ == buf_.size()) {
      buf_.clear();
      head_ = 0;
    } else if (head_ > 4096 && head_ * 2 > buf_.size()) {
      buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    if (closed_ && head_ == buf_.size() && !flush_pending_) out_flags |= kFlagClosed;
    *flags = out_flags;
    return n;
  }

  static std::chrono::nanoseconds Seconds(double s) {
    auto d = std::chrono::duration<double>(std::min(s, 1e6));
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d);
  }

  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

  void Stats(uint64_t* out) {
    std::lock_guard<std::mutex> lock(mu_);
    out[0] = issued_;
    out[1] = taken_;
    out[2] = flushes_;
    out[3] = static_cast<uint64_t>(buf_.size() - head_);
  }

 private:
  const std::string name_;
  std::mutex mu_;
  std::condition_variable cv_;
  struct Query {
    uint64_t start;  // position of its first sample in the issue order
    uint64_t size;
  };
  std::vector<mlperf::QuerySample> buf_;  // [head_, size) not yet taken
  std::deque<Query> queries_;            // buffered queries of more than one sample
  size_t head_ = 0;
  uint64_t issued_ = 0;
  uint64_t taken_ = 0;
  uint64_t flush_mark_ = 0;  // issued_ at the last FlushQueries
  uint64_t flushes_ = 0;
  uint64_t want_ = 0;  // a lingering taker's target for issued_ (0: none)
  bool flush_pending_ = false;
  bool closed_ = false;
};

NativeSut* as_native(void* handle) {
  // handles are the mlperf::SystemUnderTest* that inferlab_sut_create returned
  return static_cast<NativeSut*>(static_cast<mlperf::SystemUnderTest*>(handle));
}

}  // namespace

INFERLAB_API int inferlab_sut_abi_version() { return kAbiVersion; }

// The SystemUnderTest* for LoadGen's StartTest (as an opaque pointer), or null on failure.
INFERLAB_API void* inferlab_sut_create(const char* name) {
  NativeSut* sut = new (std::nothrow) NativeSut(name);
  return static_cast<mlperf::SystemUnderTest*>(sut);
}

// Only after StartTest has returned and no thread is inside take.
INFERLAB_API void inferlab_sut_destroy(void* handle) {
  if (handle) delete static_cast<mlperf::SystemUnderTest*>(handle);
}

INFERLAB_API size_t inferlab_sut_take(void* handle, uint64_t* ids_out, uint64_t* idx_out,
                                      size_t max, double timeout_s, size_t min_n,
                                      double linger_s, int* flags_out, size_t* need_out) {
  return as_native(handle)->Take(ids_out, idx_out, max, timeout_s, min_n, linger_s, flags_out,
                                 need_out);
}

INFERLAB_API void inferlab_sut_close(void* handle) { as_native(handle)->Close(); }

// issued, taken, flushes, buffered
INFERLAB_API void inferlab_sut_stats(void* handle, uint64_t* out4) { as_native(handle)->Stats(out4); }

// Test hooks: exactly what LoadGen does, through the virtual interface.
INFERLAB_API void inferlab_sut_issue_for_test(void* handle, const uint64_t* ids, const uint64_t* idx,
                                 size_t n) {
  std::vector<mlperf::QuerySample> samples(n);
  for (size_t k = 0; k < n; ++k) {
    samples[k].id = static_cast<uintptr_t>(ids[k]);
    samples[k].index = static_cast<size_t>(idx[k]);
  }
  static_cast<mlperf::SystemUnderTest*>(handle)->IssueQuery(samples);
}

INFERLAB_API void inferlab_sut_flush_for_test(void* handle) {
  static_cast<mlperf::SystemUnderTest*>(handle)->FlushQueries();
}

// Copies Name() (through the vtable) into buf; returns its length.
INFERLAB_API size_t inferlab_sut_name_for_test(void* handle, char* buf, size_t cap) {
  const std::string& name = static_cast<mlperf::SystemUnderTest*>(handle)->Name();
  size_t n = std::min(name.size(), cap);
  name.copy(buf, n);
  return name.size();
}
