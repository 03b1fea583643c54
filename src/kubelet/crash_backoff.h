#pragma once
// CrashBackoff: the restart delay of one container (upstream
// pkg/kubelet/kuberuntime/kuberuntime_manager.go doBackOff over
// client-go's flowcontrol.Backoff): the first restart after an exit is
// immediate, each later one waits initial, 2x, 4x ... up to max; a container
// that ran for `reset` or longer before it exited starts over.

#include <algorithm>

#include "common/clock.h"

namespace shakeout::kubelet {

struct CrashBackoffPolicy {
  Millis initial{10000};
  Millis max{300000};
  Millis reset{600000};
};

class CrashBackoff {
 public:
  explicit CrashBackoff(CrashBackoffPolicy policy) : policy_(policy) {}

  // The container exited at `finished` after running `ran`: how long from
  // `finished` a restart must wait (0 for the first), before restarted().
  Millis delay(Millis ran) {
    if (ran >= policy_.reset) current_ = Millis(0);
    return current_;
  }
  // A restart happened: the next one waits longer.
  void restarted() {
    current_ = current_.count() == 0 ? policy_.initial : std::min(policy_.max, current_ * 2);
  }
  Millis current() const { return current_; }

 private:
  CrashBackoffPolicy policy_;
  Millis current_{0};
};

}  // namespace shakeout::kubelet
