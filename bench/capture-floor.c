// The W1 floor beside a floor that also captures output: how much of W1's gap any job runner that keeps
// its jobs' stdout and stderr must pay on this machine (docs/performance.md, "Where W1's time goes").
//
//   clang -O2 bench/capture-floor.c -o /tmp/capture-floor && /tmp/capture-floor 2000 4
//
// Each round runs COUNT × /bin/true, 2 at a time, twice, alternately:
// - floor: posix_spawn with stdin, stdout and stderr on /dev/null, then wait (as proc-bench's floor);
// - capture: posix_spawn with stdout and stderr on two pipes, poll over every running child's pipes and
//   read them to their end, then waitpid: the least a runner that captures output does. No journal, no
//   events, no state.
// It prints both wall times and floor ÷ capture, the ratio proc-bench prints for a runner.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
enum { PARALLEL = 2 };
static int dev_null;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fail(const char *what, int error) {
    fprintf(stderr, "capture-floor: %s: %s\n", what, strerror(error));
    exit(1);
}

/// Spawns /bin/true; with `capture`, its stdout and stderr are the write ends of two new pipes whose read
/// ends go to out[0] and out[1].
static pid_t spawn(int capture, int out[2]) {
    char *argv[] = {"/bin/true", NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, dev_null, 0);
    int pipes[2][2];
    for (int i = 0; i < 2; i++) {
        if (capture) {
            if (pipe2(pipes[i], O_CLOEXEC) != 0) fail("pipe2", errno);
            posix_spawn_file_actions_adddup2(&actions, pipes[i][1], 1 + i);
        } else {
            posix_spawn_file_actions_adddup2(&actions, dev_null, 1 + i);
        }
    }
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) fail("posix_spawn /bin/true", rc);
    for (int i = 0; i < 2; i++) {
        out[i] = -1;
        if (capture) {
            close(pipes[i][1]);
            out[i] = pipes[i][0];
        }
    }
    return pid;
}

static double run(int count, int capture) {
    pid_t pids[PARALLEL];
    int fds[PARALLEL][2];
    int busy[PARALLEL] = {0};
    int started = 0, finished = 0;
    double start = now();
    while (finished < count) {
        for (int s = 0; s < PARALLEL; s++) {
            if (!busy[s] && started < count) {
                pids[s] = spawn(capture, fds[s]);
                busy[s] = 1;
                started++;
            }
        }
        if (!capture) {
            int status;
            pid_t pid = wait(&status);
            for (int s = 0; s < PARALLEL; s++) {
                if (busy[s] && pids[s] == pid) { busy[s] = 0; finished++; }
            }
            continue;
        }
        struct pollfd polled[PARALLEL * 2];
        int slot[PARALLEL * 2], n = 0;
        for (int s = 0; s < PARALLEL; s++) {
            for (int i = 0; i < 2; i++) {
                if (busy[s] && fds[s][i] >= 0) {
                    polled[n] = (struct pollfd){.fd = fds[s][i], .events = POLLIN};
                    slot[n++] = s;
                }
            }
        }
        if (poll(polled, (nfds_t)n, 10000) < 0) fail("poll", errno);
        char buffer[4096];
        for (int k = 0; k < n; k++) {
            if (polled[k].revents == 0) continue;
            if (read(polled[k].fd, buffer, sizeof buffer) > 0) continue;
            int s = slot[k];
            for (int i = 0; i < 2; i++) {
                if (fds[s][i] == polled[k].fd) fds[s][i] = -1;
            }
            close(polled[k].fd);
        }
        for (int s = 0; s < PARALLEL; s++) {
            if (busy[s] && fds[s][0] < 0 && fds[s][1] < 0) {
                int status;
                waitpid(pids[s], &status, 0);
                busy[s] = 0;
                finished++;
            }
        }
    }
    return now() - start;
}

int main(int argc, char **argv) {
    int count = argc > 1 ? atoi(argv[1]) : 2000;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    if (count <= 0 || rounds <= 0) {
        fprintf(stderr, "usage: capture-floor [COUNT [ROUNDS]]\n");
        return 2;
    }
    dev_null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (dev_null < 0) fail("open /dev/null", errno);
    for (int round = 1; round <= rounds; round++) {
        double floor = run(count, 0), capture = run(count, 1);
        printf("round %d: floor %.3f s, capture %.3f s, ratio %.2f\n", round, floor, capture, floor / capture);
    }
    return 0;
}
