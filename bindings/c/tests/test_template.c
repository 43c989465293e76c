/* The payload side of templates in C: sandbox_serve_forks. Outside a
 * template it fails with SANDBOX_IO; inside one (here a child of this test
 * given one end of a SOCK_SEQPACKET pair in RSANDBOX_TEMPLATE_FD, this test
 * speaking the caller's side of the protocol, as Sandbox::template does in
 * Rust) each fork returns from it with the request's argument, its own
 * stdout, and an exit status the template reports. */
#define _GNU_SOURCE
#include "check.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>

enum { READY = 1, FORKED = 2, EXITED = 3 };
struct reply { uint32_t kind; int32_t pid; int32_t status; };

static int state; /* set before the ready point, read by forks */

/* The template: ready after setting state; each fork prints and exits. */
static void template_main(int fd) {
    char num[16];
    snprintf(num, sizeof num, "%d", fd);
    setenv("RSANDBOX_TEMPLATE_FD", num, 1);
    state = 42;
    uint64_t arg = 0;
    if (sandbox_serve_forks(&arg) != SANDBOX_OK) _exit(100);
    printf("fork %llu state %d\n", (unsigned long long)arg, state);
    fflush(stdout);
    _exit((int)arg);
}

/* Send a fork request with stdio (devnull, out, stderr). */
static void request(int sock, uint64_t arg, int out) {
    int fds[3] = {0, out, 2};
    char cbuf[CMSG_SPACE(sizeof fds)];
    struct iovec iov = {&arg, sizeof arg};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                       .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    CHECK(sendmsg(sock, &m, 0) == sizeof arg, "sendmsg");
}

/* Receive one reply; *fd gets a passed fd or -1. */
static struct reply receive(int sock, int *fd) {
    struct reply r = {0, 0, 0};
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&r, sizeof r};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                       .msg_controllen = sizeof cbuf};
    *fd = -1;
    if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != sizeof r) return r;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (c && c->cmsg_type == SCM_RIGHTS) memcpy(fd, CMSG_DATA(c), sizeof *fd);
    return r;
}

static void fork_once(int sock, uint64_t arg) {
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    request(sock, arg, p[1]);
    close(p[1]);
    int pidfd;
    struct reply r = receive(sock, &pidfd);
    CHECK(r.kind == FORKED && pidfd >= 0, "kind %u pidfd %d", r.kind, pidfd);
    char out[128], want[64];
    read_all(p[0], out, sizeof out);
    close(p[0]);
    snprintf(want, sizeof want, "fork %llu state 42\n", (unsigned long long)arg);
    CHECK(strcmp(out, want) == 0, "fork printed \"%s\"", out);
    int none;
    struct reply e = receive(sock, &none);
    CHECK(e.kind == EXITED && e.pid == r.pid, "kind %u pid %d", e.kind, e.pid);
    CHECK(WIFEXITED(e.status) && WEXITSTATUS(e.status) == (int)arg, "status %#x", e.status);
    if (pidfd >= 0) close(pidfd);
}

static void round_trip(void) {
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    pid_t t = fork();
    if (t == 0) {
        close(sv[0]);
        template_main(sv[1]);
    }
    close(sv[1]);
    int none;
    struct reply ready = receive(sv[0], &none);
    CHECK(ready.kind == READY, "first message kind %u", ready.kind);
    fork_once(sv[0], 7);
    fork_once(sv[0], 9);
    close(sv[0]); /* the template kills its forks and exits 0 */
    int st = 0;
    CHECK(waitpid(t, &st, 0) == t && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "template status %#x", st);
}

static void not_a_template(void) {
    unsetenv("RSANDBOX_TEMPLATE_FD");
    uint64_t arg = 5;
    CHECK_RC(sandbox_serve_forks(&arg), SANDBOX_IO);
    CHECK_MSG("not started as a template");
    CHECK(arg == 5, "arg written on failure");
    CHECK_RC(sandbox_serve_forks(NULL), SANDBOX_NULL_PARAMETER);
}

int main(void) {
    not_a_template();
    round_trip();
    return summary("test_template");
}
