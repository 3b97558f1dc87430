#define _GNU_SOURCE
#include "cspawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *env_path(char *const envp[]) {
    for (char *const *e = envp; e && *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0) return *e + 5;
    return "/usr/local/bin:/usr/bin:/bin";
}

// execvp-like lookup against the child's PATH. glibc's posix_spawnp would search the *parent's* PATH, which is
// wrong for a job with its own environment. Relative PATH entries (and the empty entry, meaning ".") are taken
// relative to the child's cwd, since that is where execvp in the child would look.
static int resolve(const char *file, char *const envp[], const char *cwd, char out[PATH_MAX]) {
    if (*file == '\0') return ENOENT;
    int err = ENOENT;
    const char *p = env_path(envp);
    for (;;) {
        const char *end = strchrnul(p, ':');
        int dlen = (int)(end - p);
        const char *dir = dlen ? p : ".";
        if (!dlen) dlen = 1;
        int n = (dir[0] != '/' && cwd)
            ? snprintf(out, PATH_MAX, "%s/%.*s/%s", cwd, dlen, dir, file)
            : snprintf(out, PATH_MAX, "%.*s/%s", dlen, dir, file);
        struct stat st;
        if (n > 0 && n < PATH_MAX && stat(out, &st) == 0) {
            // Like execvp: remember EACCES but keep looking; a later entry may be executable.
            if (S_ISREG(st.st_mode) && faccessat(AT_FDCWD, out, X_OK, AT_EACCESS) == 0) return 0;
            err = EACCES;
        }
        if (*end == '\0') return err;
        p = end + 1;
    }
}

// The dup2s onto 0..3 run in order; a source fd that is itself in 0..3 could be clobbered by an earlier one.
// Sets src[i] to fds[i], or to a close-on-exec copy >= 4 (kept in tmp[i], for the caller to close). Returns 0
// or an errno value.
static int lift_sources(const int fds[4], int src[4], int tmp[4]) {
    for (int i = 0; i < 4; i++) {
        src[i] = fds[i];
        if (fds[i] < 0) return EBADF;
        if (fds[i] < 4) {
            if ((tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 4)) < 0) return errno;
            src[i] = tmp[i];
        }
    }
    return 0;
}

int cspawn_spawn(pid_t *out_pid, const char *file, char *const argv[], char *const envp[],
                 const char *cwd, int stdin_fd, int stdout_fd, int stderr_fd, int channel_fd) {
    char resolved[PATH_MAX];
    if (!strchr(file, '/')) {
        int err = resolve(file, envp, cwd, resolved);
        if (err) return err;
        file = resolved;
    }

    // Sources in 0..3 move to a temporary fd >= 4 first (closefrom(4) drops it in the child).
    const int fds[4] = {stdin_fd, stdout_fd, stderr_fd, channel_fd};
    int src[4], tmp[4] = {-1, -1, -1, -1};
    int err = lift_sources(fds, src, tmp);
    if (err) goto out_tmp;

    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    if ((err = posix_spawnattr_init(&attr))) goto out_tmp;
    if ((err = posix_spawn_file_actions_init(&fa))) goto out_attr;

    sigset_t empty, all;
    sigemptyset(&empty);
    sigemptyset(&all);
    // glibc's sigaddset refuses its internal signals (32, 33) with EINVAL; that is fine, skip them.
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP) (void)sigaddset(&all, s);
    // SETSID: own session and process group, so kill(-pid) reaches the whole job tree and the job cannot
    // grab the agent's controlling terminal. SETSIGMASK/SETSIGDEF: the child must not inherit the agent's
    // blocked mask or ignored signals (e.g. SIG_IGN for SIGPIPE), otherwise SIGTERM/SIGPIPE would not work.
    if ((err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                                   POSIX_SPAWN_SETSIGDEF))) goto out_fa;
    if ((err = posix_spawnattr_setsigmask(&attr, &empty))) goto out_fa;
    if ((err = posix_spawnattr_setsigdefault(&attr, &all))) goto out_fa;

    if (cwd && (err = posix_spawn_file_actions_addchdir_np(&fa, cwd))) goto out_fa;
    for (int i = 0; i < 4; i++)
        if ((err = posix_spawn_file_actions_adddup2(&fa, src[i], i))) goto out_fa;
    if ((err = posix_spawn_file_actions_addclosefrom_np(&fa, 4))) goto out_fa;

    // glibc (>= 2.24) runs the child with CLONE_VFORK and reports a failed chdir/dup2/exec as the return value
    // after reaping the failed child itself, so no zombie is left behind on error.
    err = posix_spawn(out_pid, file, &fa, &attr, argv, envp);

out_fa:
    posix_spawn_file_actions_destroy(&fa);
out_attr:
    posix_spawnattr_destroy(&attr);
out_tmp:
    for (int i = 0; i < 4; i++)
        if (tmp[i] >= 0) close(tmp[i]);
    return err;
}

// ---- cspawn_spawn_as: the same, as another user (fork, since posix_spawn cannot change the credentials) ----

// Raw system calls for the credentials: glibc's setgroups/setgid/setuid wrappers may broadcast the change to
// every thread of the process (SIGSETXID), which is not async-signal-safe. The child has one thread, and
// the kernel changes only the calling task's credentials. Where the plain numbers are 16-bit ids (32-bit
// ARM, i386) the 32-bit variants exist and are used.
#ifdef SYS_setgroups32
#define CSPAWN_SYS_SETGROUPS SYS_setgroups32
#define CSPAWN_SYS_SETGID SYS_setgid32
#define CSPAWN_SYS_SETUID SYS_setuid32
#else
#define CSPAWN_SYS_SETGROUPS SYS_setgroups
#define CSPAWN_SYS_SETGID SYS_setgid
#define CSPAWN_SYS_SETUID SYS_setuid
#endif

struct child_error {
    int step;
    int err;
};

// Everything the child needs, prepared by the parent: after fork the child may not allocate.
struct child_plan {
    volatile struct child_error *shared;  // the vfork path: the child writes its failure here (shared memory)
    char **candidates;        // execve these in order (execvp's PATH walk, done by the child as the new user)
    char *const *argv;
    char *const *envp;
    const char *cwd;
    int src[4];               // become fds 0..3; all >= 4
    int error_fd;             // the fork path: write end of the error pipe, >= 4, close-on-exec; else -1
    const struct cspawn_user *user;
};

__attribute__((noreturn)) static void child_fail(const struct child_plan *plan, int step, int err) {
    if (plan->shared) {
        plan->shared->step = step;
        plan->shared->err = err;
        _exit(127);
    }
    struct child_error e = {step, err};
    while (write(plan->error_fd, &e, sizeof e) < 0 && errno == EINTR) {}
    _exit(127);
}

// close_range, or, where the kernel lacks it (before 5.9), each fd up to the soft limit: only then is the
// limit read (getrlimit, a plain system call), so a spawn does not pay for it.
static void close_fds_from(int from, int to_excluding) {
    if (from >= to_excluding) return;
    if (syscall(SYS_close_range, (unsigned)from, (unsigned)(to_excluding - 1), 0) == 0) return;
    struct rlimit limit;
    long max_fd = 65536;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) max_fd = (long)limit.rlim_cur;
    for (long fd = from; fd < to_excluding && fd < max_fd; fd++) (void)close((int)fd);
}

// Only async-signal-safe calls from here on: the parent has other threads, whose locks may be held in this
// copy of its memory (or, on the vfork path, in this very memory). Signals are blocked on entry (the parent
// blocked them around fork or clone), and no handler of the agent can run before they are reset.
__attribute__((noreturn)) static void child(const struct child_plan *plan) {
    int efd = plan->error_fd;
    if (setsid() < 0) child_fail(plan, CSPAWN_STEP_SETSID, errno);

    // Like posix_spawn's SETSIGDEF and SETSIGMASK: nothing the agent ignores or handles reaches the job.
    // glibc refuses its internal signals (32, 33) with EINVAL; their handlers go away with execve.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP) (void)sigaction(s, &dfl, NULL);
    sigset_t empty;
    sigemptyset(&empty);
    if (sigprocmask(SIG_SETMASK, &empty, NULL) < 0) child_fail(plan, CSPAWN_STEP_SIGNALS, errno);

    // Groups first, then the gid, then the uid: after setuid there is no right left to change the others.
    const struct cspawn_user *u = plan->user;
    if (u) {
        if (syscall(CSPAWN_SYS_SETGROUPS, u->ngroups, u->groups) < 0) child_fail(plan, CSPAWN_STEP_SETGROUPS, errno);
        if (syscall(CSPAWN_SYS_SETGID, u->gid) < 0) child_fail(plan, CSPAWN_STEP_SETGID, errno);
        if (syscall(CSPAWN_SYS_SETUID, u->uid) < 0) child_fail(plan, CSPAWN_STEP_SETUID, errno);
    }

    if (plan->cwd && chdir(plan->cwd) < 0) child_fail(plan, CSPAWN_STEP_CHDIR, errno);

    for (int i = 0; i < 4; i++)
        if (dup2(plan->src[i], i) < 0) child_fail(plan, CSPAWN_STEP_FDS, errno);
    // Everything from 4 up except the error pipe (if any), which close-on-exec closes when execve succeeds.
    if (efd >= 0) {
        close_fds_from(4, efd);
        close_fds_from(efd + 1, INT_MAX);
    } else {
        close_fds_from(4, INT_MAX);
    }

    // execvp's rules: go on after ENOENT and the like, remember EACCES, stop at any other error.
    int err = ENOENT, denied = 0;
    for (char **c = plan->candidates; *c; c++) {
        execve(*c, plan->argv, plan->envp);
        err = errno;
        if (err == EACCES) denied = 1;
        else if (err != ENOENT && err != ENOTDIR && err != ESTALE && err != ENODEV && err != ETIMEDOUT)
            child_fail(plan, CSPAWN_STEP_EXEC, err);
    }
    child_fail(plan, CSPAWN_STEP_EXEC, denied ? EACCES : err);
}

static int vfork_child(void *plan) { child(plan); }

// The paths execve tries: `file` itself if it has a '/', else each PATH entry of `envp` (as resolve() builds
// them). NULL-terminated, one allocation; NULL if out of memory.
static char **exec_candidates(const char *file, char *const envp[], const char *cwd) {
    const char *path = env_path(envp);
    size_t entries = 1;
    for (const char *p = path; *p; p++) entries += *p == ':';
    size_t each = strlen(path) + strlen(file) + (cwd ? strlen(cwd) : 0) + 4;
    char **list = malloc((entries + 1) * sizeof(char *) + entries * each);
    if (!list) return NULL;
    char *out = (char *)(list + entries + 1);
    if (strchr(file, '/')) {
        strcpy(out, file);
        list[0] = out;
        list[1] = NULL;
        return list;
    }
    size_t n = 0;
    for (const char *p = path;;) {
        const char *end = strchrnul(p, ':');
        int dlen = (int)(end - p);
        const char *dir = dlen ? p : ".";
        if (!dlen) dlen = 1;
        int len = (dir[0] != '/' && cwd)
            ? snprintf(out, each, "%s/%.*s/%s", cwd, dlen, dir, file)
            : snprintf(out, each, "%.*s/%s", dlen, dir, file);
        if (len > 0 && (size_t)len < each && len < PATH_MAX) {
            list[n++] = out;
            out += len + 1;
        }
        if (*end == '\0') break;
        p = end + 1;
    }
    list[n] = NULL;
    return list;
}

// ---- the vfork path: clone(CLONE_VM | CLONE_VFORK) on a stack kept for the thread ----

// glibc's posix_spawn does the same, but maps a fresh stack for each child and unmaps it afterwards: in perf
// of the agent on W1 that mmap and munmap showed as about 13% of its samples. Here each thread that spawns
// maps one stack, with a guard page, the first time, and keeps it until it exits. What it bought is smaller
// than that profile suggested. It also tells which step failed.
#define CSPAWN_STACK_SIZE (256 * 1024)
static pthread_key_t stack_key;
static pthread_once_t stack_once = PTHREAD_ONCE_INIT;
static int stack_key_ok;

static void stack_unmap(void *stack) { munmap(stack, CSPAWN_STACK_SIZE); }
static void stack_key_create(void) { stack_key_ok = pthread_key_create(&stack_key, stack_unmap) == 0; }

// This thread's child stack (its lowest address), or NULL with errno set.
static void *thread_stack(void) {
    pthread_once(&stack_once, stack_key_create);
    if (!stack_key_ok) { errno = EAGAIN; return NULL; }
    void *stack = pthread_getspecific(stack_key);
    if (stack) return stack;
    stack = mmap(NULL, CSPAWN_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return NULL;
    long page = sysconf(_SC_PAGESIZE);
    // The guard page: a child that overflows its stack faults instead of writing over other memory.
    if (mprotect(stack, page > 0 ? (size_t)page : 4096, PROT_NONE) < 0 || pthread_setspecific(stack_key, stack)) {
        int e = errno ? errno : ENOMEM;
        munmap(stack, CSPAWN_STACK_SIZE);
        errno = e;
        return NULL;
    }
    return stack;
}

// posix_spawn's semantics (cspawn_spawn), with the step that failed: the child shares our memory and runs
// child() on its own stack while this thread waits (CLONE_VFORK) until it has exec'd or exited. A failed
// step writes its errno into `shared` before _exit; the failed child is then reaped here.
static int spawn_vfork(pid_t *out_pid, const char *file, char *const argv[], char *const envp[], const char *cwd,
                       const int fds[4], int *out_step) {
    char resolved[PATH_MAX];
    if (!strchr(file, '/')) {
        int err = resolve(file, envp, cwd, resolved);
        if (err) return err;  // step unknown: the caller checks whether the cwd is to blame
        file = resolved;
    }
    *out_step = CSPAWN_STEP_PREPARE;
    char *candidates[2] = {(char *)file, NULL};
    volatile struct child_error shared = {0, 0};
    struct child_plan plan = {.shared = &shared, .candidates = candidates, .argv = argv, .envp = envp,
                              .cwd = cwd, .error_fd = -1, .user = NULL};
    int tmp[4] = {-1, -1, -1, -1};
    int err = lift_sources(fds, plan.src, tmp);
    if (err) goto out;
    char *stack = thread_stack();
    if (!stack) { err = errno; goto out; }

    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = clone(vfork_child, stack + CSPAWN_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) { err = clone_errno; goto out; }
    if (shared.err) {
        err = shared.err;
        *out_step = shared.step;
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        goto out;
    }
    *out_pid = pid;
out:
    for (int i = 0; i < 4; i++)
        if (tmp[i] >= 0) close(tmp[i]);
    return err;
}

// ---- the early path: clone(CLONE_VM) without CLONE_VFORK, the caller goes on while the child execs ----

// With CLONE_VFORK the calling thread sleeps until the child has exec'd, and wakes wherever the scheduler
// puts it: on W1 nearly half of the time a slot stood empty began while the loop was in that wait, and it
// often woke queued behind another job on the busy core while the other one idled. Here the child
// gets an arena of its own: a stack, and a copy of everything it reads. It shares our memory until execve,
// while this thread runs on, so it must not write anything of ours: it makes raw system calls (glibc's
// wrappers would set errno, which lives in this thread's TLS), and reports a failure into the caller's
// `report`. The kernel clears `tid` in the arena when the child execs or exits (CLONE_CHILD_CLEARTID), and
// only then is the arena used again.
#if defined(__x86_64__)
#define CSPAWN_EARLY 1
static inline long raw_syscall(long n, long a1, long a2, long a3, long a4) {
    long ret;
    register long r10 __asm__("r10") = a4;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10) : "rcx", "r11", "memory");
    return ret;
}
#endif

#ifdef CSPAWN_EARLY
// The child runs on this thread's TLS; a stack protector would only read from it, but none is needed.
#if defined(__has_attribute)
#if __has_attribute(no_stack_protector)
#define CSPAWN_CHILD_CODE __attribute__((no_stack_protector))
#endif
#endif
#ifndef CSPAWN_CHILD_CODE
#define CSPAWN_CHILD_CODE
#endif

#define ARENA_SIZE (256 * 1024)
#define ARENA_STACK (64 * 1024)  // the child's stack; the rest holds its plan and the strings
#define ARENA_MAX 64

struct early_plan {
    struct cspawn_report *report;
    const char *path;
    char **argv;
    char **envp;
    const char *cwd;
    int src[4];
};

struct arena {
    char *base;
    volatile pid_t tid;  // nonzero while a child may still use the arena; the kernel clears it
};
static struct arena arenas[ARENA_MAX];
static int arena_count;
static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;

// A free arena, marked taken, or NULL (all are in use by children that have not exec'd yet, or no memory).
static struct arena *arena_take(void) {
    struct arena *found = NULL;
    pthread_mutex_lock(&arena_lock);
    for (int i = 0; i < arena_count && !found; i++)
        if (__atomic_load_n(&arenas[i].tid, __ATOMIC_ACQUIRE) == 0) found = &arenas[i];
    if (!found && arena_count < ARENA_MAX) {
        char *base = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        long page = sysconf(_SC_PAGESIZE);
        if (base != MAP_FAILED && mprotect(base, page > 0 ? (size_t)page : 4096, PROT_NONE) == 0) {
            found = &arenas[arena_count++];
            found->base = base;
        } else if (base != MAP_FAILED) {
            munmap(base, ARENA_SIZE);
        }
    }
    if (found) __atomic_store_n(&found->tid, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&arena_lock);
    return found;
}

static void arena_give_back(struct arena *a) { __atomic_store_n(&a->tid, 0, __ATOMIC_RELEASE); }

// Copies `s` to *cursor if it fits before `end`; NULL if not.
static char *arena_copy(char **cursor, const char *end, const char *s) {
    size_t n = strlen(s) + 1;
    if ((size_t)(end - *cursor) < n) return NULL;
    char *d = memcpy(*cursor, s, n);
    *cursor += n;
    return d;
}

// A NULL-terminated copy of `list` in the arena, or NULL if it does not fit.
static char **arena_copy_list(char **cursor, const char *end, char *const list[]) {
    size_t n = 0;
    while (list[n]) n++;
    *cursor += (size_t)(-(uintptr_t)*cursor & (sizeof(char *) - 1));  // align
    if ((size_t)(end - *cursor) < (n + 1) * sizeof(char *)) return NULL;
    char **copy = (char **)*cursor;
    *cursor += (n + 1) * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        if (!(copy[i] = arena_copy(cursor, end, list[i]))) return NULL;
    copy[n] = NULL;
    return copy;
}

CSPAWN_CHILD_CODE __attribute__((noreturn)) static void early_fail(const struct early_plan *plan, int step, long ret) {
    plan->report->step = step;
    plan->report->err = (int)-ret;
    for (;;) raw_syscall(SYS_exit_group, 127, 0, 0, 0);
}

// The child: child()'s steps without a user, in raw system calls. Signals are blocked on entry (the
// parent blocked them around clone).
CSPAWN_CHILD_CODE static int early_child(void *arg) {
    const struct early_plan *plan = arg;
    long r;
    if ((r = raw_syscall(SYS_setsid, 0, 0, 0, 0)) < 0) early_fail(plan, CSPAWN_STEP_SETSID, r);
    // SIG_DFL, no flags, an empty mask: the kernel's struct, all zero whatever its layout.
    unsigned long dfl[4] = {0, 0, 0, 0};
    for (long sig = 1; sig <= 64; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) (void)raw_syscall(SYS_rt_sigaction, sig, (long)dfl, 0, 8);
    unsigned long empty = 0;
    if ((r = raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&empty, 0, 8)) < 0)
        early_fail(plan, CSPAWN_STEP_SIGNALS, r);
    if (plan->cwd && (r = raw_syscall(SYS_chdir, (long)plan->cwd, 0, 0, 0)) < 0)
        early_fail(plan, CSPAWN_STEP_CHDIR, r);
    for (int i = 0; i < 4; i++)  // the sources are all >= 4, so never equal to their target
        if ((r = raw_syscall(SYS_dup3, plan->src[i], i, 0, 0)) < 0) early_fail(plan, CSPAWN_STEP_FDS, r);
    if (raw_syscall(SYS_close_range, 4, ~0L & 0xffffffffL, 0, 0) < 0) {
        for (long fd = 4; fd < 65536; fd++) (void)raw_syscall(SYS_close, fd, 0, 0, 0);  // before Linux 5.9
    }
    r = raw_syscall(SYS_execve, (long)plan->path, (long)plan->argv, (long)plan->envp, 0);
    early_fail(plan, CSPAWN_STEP_EXEC, r);
}

// 0 and *out_pid, an errno value, or -1: this way is not possible now (the caller takes the vfork path).
static int spawn_early(pid_t *out_pid, int *out_pidfd, const char *file, char *const argv[], char *const envp[],
                       const char *cwd, const int fds[4], struct cspawn_report *report) {
    struct arena *a = arena_take();
    if (!a) return -1;
    char *cursor = a->base + ARENA_STACK;
    const char *end = a->base + ARENA_SIZE;
    cursor += (size_t)(-(uintptr_t)cursor & 15);
    struct early_plan *plan = (struct early_plan *)cursor;
    cursor += sizeof *plan;
    plan->report = report;
    plan->cwd = NULL;
    if (!(plan->path = arena_copy(&cursor, end, file)) || !(plan->argv = arena_copy_list(&cursor, end, argv))
        || !(plan->envp = arena_copy_list(&cursor, end, envp))
        || (cwd && !(plan->cwd = arena_copy(&cursor, end, cwd)))) {
        arena_give_back(a);
        return -1;
    }
    int tmp[4] = {-1, -1, -1, -1};
    int err = lift_sources(fds, plan->src, tmp);
    if (err) {
        arena_give_back(a);
        goto out;
    }
    report->step = 0;
    report->err = 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    // The stack grows down from the plan; 16-byte aligned.
    char *stack_top = (char *)((uintptr_t)(a->base + ARENA_STACK) & ~(uintptr_t)15);
    // CLONE_PIDFD: the pidfd comes with the child, a pidfd_open fewer (a kernel before 5.2 ignores the flag and
    // leaves it -1). It is made after the child's copy of our fd table, and close-on-exec.
    int pidfd = -1;
    pid_t pid = clone(early_child, stack_top, CLONE_VM | CLONE_CHILD_CLEARTID | CLONE_PIDFD | SIGCHLD, plan, &pidfd,
                      NULL, &a->tid);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        arena_give_back(a);
        err = clone_errno;
        goto out;
    }
    *out_pid = pid;
    *out_pidfd = pidfd;
out:
    // The child has its own copy of our fd table (no CLONE_FILES): ours can go at once.
    for (int i = 0; i < 4; i++)
        if (tmp[i] >= 0) close(tmp[i]);
    return err;
}
#endif

int cspawn_spawn_early(pid_t *out_pid, int *out_pidfd, const char *file, char *const argv[], char *const envp[],
                       const char *cwd, int stdin_fd, int stdout_fd, int stderr_fd, int channel_fd,
                       int *out_step, struct cspawn_report *report) {
    report->step = 0;
    report->err = 0;
    *out_pidfd = -1;
#ifdef CSPAWN_EARLY
    *out_step = CSPAWN_STEP_UNKNOWN;
    char resolved[PATH_MAX];
    if (!strchr(file, '/')) {
        int err = resolve(file, envp, cwd, resolved);
        if (err) return err;  // step unknown, as on the vfork path
        file = resolved;
    }
    *out_step = CSPAWN_STEP_PREPARE;
    const int fds[4] = {stdin_fd, stdout_fd, stderr_fd, channel_fd};
    int err = spawn_early(out_pid, out_pidfd, file, argv, envp, cwd, fds, report);
    if (err >= 0) return err;
#endif
    return cspawn_spawn_as(out_pid, file, argv, envp, cwd, stdin_fd, stdout_fd, stderr_fd, channel_fd, NULL, out_step);
}

int cspawn_spawn_as(pid_t *out_pid, const char *file, char *const argv[], char *const envp[],
                    const char *cwd, int stdin_fd, int stdout_fd, int stderr_fd, int channel_fd,
                    const struct cspawn_user *user, int *out_step) {
    *out_step = CSPAWN_STEP_UNKNOWN;
    if (!user) {
        int fds[4] = {stdin_fd, stdout_fd, stderr_fd, channel_fd};
        return spawn_vfork(out_pid, file, argv, envp, cwd, fds, out_step);
    }

    *out_step = CSPAWN_STEP_EXEC;
    if (*file == '\0') return ENOENT;
    *out_step = CSPAWN_STEP_PREPARE;

    struct child_plan plan = {.argv = argv, .envp = envp, .cwd = cwd, .user = user, .error_fd = -1};
    int pipe_fds[2] = {-1, -1};
    int tmp[4] = {-1, -1, -1, -1};
    int err = 0;
    if (!(plan.candidates = exec_candidates(file, envp, cwd))) return ENOMEM;

    const int fds[4] = {stdin_fd, stdout_fd, stderr_fd, channel_fd};
    if ((err = lift_sources(fds, plan.src, tmp))) goto out;
    // The error pipe: read end here, write end in the child, both close-on-exec and >= 4 (so dup2 onto
    // 0..3 cannot clobber it).
    if (pipe2(pipe_fds, O_CLOEXEC) < 0) { err = errno; goto out; }
    for (int i = 0; i < 2; i++) {
        if (pipe_fds[i] < 4) {
            int moved = fcntl(pipe_fds[i], F_DUPFD_CLOEXEC, 4);
            if (moved < 0) { err = errno; goto out; }
            close(pipe_fds[i]);
            pipe_fds[i] = moved;
        }
    }
    plan.error_fd = pipe_fds[1];

    // No signal handler of the agent may run in the child before it resets them.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) child(&plan);
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(pipe_fds[1]);
    pipe_fds[1] = -1;
    if (pid < 0) { err = fork_errno; goto out; }

    // EOF: execve succeeded (close-on-exec closed the write end). A record: that step failed.
    struct child_error report;
    ssize_t n;
    while ((n = read(pipe_fds[0], &report, sizeof report)) < 0 && errno == EINTR) {}
    if (n == 0) {
        *out_pid = pid;
        goto out;
    }
    if (n == (ssize_t)sizeof report) {
        err = report.err;
        *out_step = report.step;
    } else {  // cannot happen for 8 bytes on a pipe; do not leave a child in an unknown state behind
        err = n < 0 ? errno : EIO;
        kill(pid, SIGKILL);
    }
    // The child is not in any job's session yet as far as the agent knows: reap it here, like glibc does.
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}

out:
    for (int i = 0; i < 2; i++)
        if (pipe_fds[i] >= 0) close(pipe_fds[i]);
    for (int i = 0; i < 4; i++)
        if (tmp[i] >= 0) close(tmp[i]);
    free(plan.candidates);
    return err;
}

int cspawn_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int cspawn_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int cspawn_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

pid_t cspawn_peek_exited_child(void) {
    siginfo_t info;
    memset(&info, 0, sizeof info);  // si_pid stays 0 when WNOHANG finds nothing (POSIX leaves it unspecified)
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0) return -1;
    return info.si_pid;
}

int cspawn_wifexited(int status) { return WIFEXITED(status); }
int cspawn_wexitstatus(int status) { return WEXITSTATUS(status); }
int cspawn_wifsignaled(int status) { return WIFSIGNALED(status); }
int cspawn_wtermsig(int status) { return WTERMSIG(status); }
