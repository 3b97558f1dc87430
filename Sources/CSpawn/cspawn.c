#define _GNU_SOURCE
#include "cspawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
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

int cspawn_spawn(pid_t *out_pid, const char *file, char *const argv[], char *const envp[],
                 const char *cwd, int stdin_fd, int stdout_fd, int stderr_fd, int channel_fd) {
    char resolved[PATH_MAX];
    if (!strchr(file, '/')) {
        int err = resolve(file, envp, cwd, resolved);
        if (err) return err;
        file = resolved;
    }

    // The dup2 actions run in order 0,1,2,3; a source fd that is itself in 0..3 could be clobbered by an
    // earlier dup2. Move such sources to a temporary fd >= 4 first (closefrom(4) drops it in the child).
    int src[4] = {stdin_fd, stdout_fd, stderr_fd, channel_fd};
    int tmp[4] = {-1, -1, -1, -1};
    int err = 0;
    for (int i = 0; i < 4; i++) {
        if (src[i] < 0) { err = EBADF; goto out_tmp; }
        if (src[i] < 4) {
            if ((tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 4)) < 0) { err = errno; goto out_tmp; }
            src[i] = tmp[i];
        }
    }

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
