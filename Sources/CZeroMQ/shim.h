#ifndef PROC_CZEROMQ_SHIM_H
#define PROC_CZEROMQ_SHIM_H
#include <zmq.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <pthread.h>
#include <signal.h>

/// Names the calling thread (shown by top -H, gdb, perf). prctl is variadic, so Swift needs this.
static inline void proc_set_thread_name(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

/// Unblocks SIGCHLD in the calling thread. A child's exit signal goes to the thread that spawned it; while
/// that thread blocks SIGCHLD, the kernel cannot drop it as ignored (SIG_DFL) and wakes another thread to
/// take it: libdispatch's signal thread (dispatch_main) and its manager, two wake-ups per job. Unblocked
/// here, it is dropped where it is sent.
static inline int proc_unblock_child_signal(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    return pthread_sigmask(SIG_UNBLOCK, &set, 0);
}
#endif
