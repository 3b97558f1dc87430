#ifndef CSPAWN_H
#define CSPAWN_H

#include <sys/types.h>

/// Spawns `file` with posix_spawn in a new session (pgid == pid), an empty signal mask and every catchable
/// signal reset to SIG_DFL. fds 0..3 of the child are stdin_fd, stdout_fd, stderr_fd, channel_fd; every other
/// fd is closed. A `file` without '/' is resolved against the PATH in `envp` (not the parent's PATH).
/// Returns 0 (and *out_pid) or an errno value; exec and chdir failures are reported here too (glibc's
/// posix_spawn waits for the exec in the child and hands back its errno).
int cspawn_spawn(pid_t *out_pid, const char *file, char *const argv[], char *const envp[],
                 const char *cwd, int stdin_fd, int stdout_fd, int stderr_fd, int channel_fd);

/// Who a job runs as (cspawn_spawn_as): the ids and the supplementary groups (setgroups; ngroups may be 0).
struct cspawn_user {
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t ngroups;
};

/// The step of cspawn_spawn_as that failed, so the caller can say which.
#define CSPAWN_STEP_UNKNOWN 0    // the posix_spawn path: glibc does not say
#define CSPAWN_STEP_PREPARE 1    // in the parent: memory, pipe, fork
#define CSPAWN_STEP_SETSID 2
#define CSPAWN_STEP_SIGNALS 3
#define CSPAWN_STEP_SETGROUPS 4
#define CSPAWN_STEP_SETGID 5
#define CSPAWN_STEP_SETUID 6
#define CSPAWN_STEP_CHDIR 7
#define CSPAWN_STEP_FDS 8        // dup2 onto 0..3, closing the rest
#define CSPAWN_STEP_EXEC 9

/// cspawn_spawn's semantics, as `user` when it is not NULL. The child, doing only async-signal-safe system
/// calls, runs: setsid, every catchable signal to SIG_DFL and an empty mask, (with a user) setgroups, setgid,
/// setuid, each checked, then chdir, dup2 onto 0..3, closes every other fd, execve. A failed step's errno is
/// the return value, *out_step says which step (CSPAWN_STEP_UNKNOWN: the PATH lookup), and the failed child
/// has been reaped.
/// - Without a user (the fallback of cspawn_spawn_early, the agent's usual path) the child is cloned with
///   CLONE_VM | CLONE_VFORK, as glibc's posix_spawn does, but on a stack each calling thread maps once and
///   keeps, where posix_spawn maps and unmaps one per child; it reports its failure through the memory it
///   shares with us. A `file` without
///   '/' is resolved against the PATH in `envp`, as in cspawn_spawn.
/// - With a user, the child is forked (posix_spawn cannot change credentials) and reports through a
///   close-on-exec pipe; a `file` without '/' is tried along the PATH in `envp` as execvp would, as the
///   new user.
int cspawn_spawn_as(pid_t *out_pid, const char *file, char *const argv[], char *const envp[],
                    const char *cwd, int stdin_fd, int stdout_fd, int stderr_fd, int channel_fd,
                    const struct cspawn_user *user, int *out_step);

/// A failure the child found after cspawn_spawn_early returned: err is 0 while there is none.
struct cspawn_report {
    volatile int step;
    volatile int err;
};

/// cspawn_spawn_as without a user, returning as soon as the child exists instead of once it has exec'd: the
/// calling thread goes on while the child prepares and execs. The child
/// shares our memory until its execve, on a stack and a copy of its arguments of its own (an arena, reused
/// once the kernel has cleared the child's tid at its exec or exit), and makes raw system calls only, so it
/// touches nothing of ours, not even errno. A failure before the child exists (the PATH lookup, memory,
/// clone) is returned as by cspawn_spawn_as. A failure of the child's own steps (chdir, execve, ...) is
/// written to *report, which must stay valid until the child is reaped, and the child exits with 127:
/// read it after reaping. Where this cannot be done (another architecture than x86-64, an environment too
/// big for an arena, 64 children not yet exec'd), it is cspawn_spawn_as itself and *report stays clear.
/// *out_pidfd is the child's pidfd (close-on-exec) when the clone made one, else -1: then use
/// cspawn_pidfd_open.
int cspawn_spawn_early(pid_t *out_pid, int *out_pidfd, const char *file, char *const argv[], char *const envp[],
                       const char *cwd, int stdin_fd, int stdout_fd, int stderr_fd, int channel_fd,
                       int *out_step, struct cspawn_report *report);

/// pidfd_open(pid, 0). Returns an fd (O_CLOEXEC is implied by the kernel) or -1 with errno set.
int cspawn_pidfd_open(pid_t pid);

/// pipe2(fds, O_CLOEXEC) (Glibc's Swift module does not export pipe2). Returns 0 or -1 with errno set.
int cspawn_pipe_cloexec(int fds[2]);

/// prctl(PR_SET_CHILD_SUBREAPER, 1). Returns 0 or -1 with errno set.
int cspawn_set_child_subreaper(void);

/// waitid(P_ALL, WEXITED|WNOHANG|WNOWAIT): the pid of a child that can be reaped without blocking, leaving it
/// unreaped. Returns 0 if none is ready, -1 with errno set (ECHILD: no children at all).
pid_t cspawn_peek_exited_child(void);

/// The <sys/wait.h> status macros, which Swift cannot import.
int cspawn_wifexited(int status);
int cspawn_wexitstatus(int status);
int cspawn_wifsignaled(int status);
int cspawn_wtermsig(int status);

#endif
