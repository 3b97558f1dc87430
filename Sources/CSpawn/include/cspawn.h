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
