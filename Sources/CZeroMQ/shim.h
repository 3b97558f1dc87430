#ifndef PROC_CZEROMQ_SHIM_H
#define PROC_CZEROMQ_SHIM_H
#include <zmq.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

/// Names the calling thread (shown by top -H, gdb, perf). prctl is variadic, so Swift needs this.
static inline void proc_set_thread_name(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }
#endif
