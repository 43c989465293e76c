/* Templates in C. The payload side, sandbox_serve_forks: outside a
 * template it fails with SANDBOX_IO; inside one (here a child of this test
 * given one end of a SOCK_SEQPACKET pair in RSANDBOX_TEMPLATE_FD, this test
 * speaking the caller's side of the protocol, as Sandbox::template does in
 * Rust) each fork returns from it with the request's argument, its own
 * stdout, and an exit status the template reports. The caller side,
 * sandbox_template_* and sandbox_fork_*: this test binary, re-run in a box
 * with "--serve", is the template payload. Templates made with
 * SANDBOX_TEMPLATE_FORK_NAMESPACES: each fork reports from inside that it
 * is pid 1 alone in its /proc, in namespaces of its own. Cgroup counters
 * of forks (sandbox_fork_cgroup_stats): a template with a memory limit
 * gives each fork a cgroup, and one that touches more memory than that is
 * killed and counted as an OOM kill (root only: cgroups). Rootless: root
 * and nobody. */
#define _GNU_SOURCE
#include "check.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
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

/* The namespaces compared between a fork, its sibling and the template. */
static const char *const NS[] = {"net", "uts", "ipc", "mnt", "user", "pid"};
enum { N_NS = sizeof NS / sizeof NS[0], WHOAMI = 50, HOG = 60, PROC_VIEW = 70 };

/* Inode of /proc/<pid>/ns/<ns> ("self" for pid): 0 when unreadable. */
static unsigned long ns_inode(const char *pid, const char *ns) {
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%s/ns/%s", pid, ns);
    return stat(path, &st) == 0 ? (unsigned long)st.st_ino : 0;
}

/* In a fork (argument WHOAMI): print "pid ppid procs" (the numeric entries
 * of /proc) and the inode of each of its NS, on one line. */
static void whoami(void) {
    int procs = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d));)
        if (isdigit((unsigned char)e->d_name[0])) procs++;
    if (d) closedir(d);
    printf("%d %d %d", (int)getpid(), (int)getppid(), procs);
    for (int i = 0; i < N_NS; i++) printf(" %lu", ns_inode("self", NS[i]));
    printf("\n");
}

/* In a fork (argument PROC_VIEW): print "procs keys ro comm": the pids in
 * /proc, whether /proc/keys is a character device (a mask: 1; 0: not; -1:
 * absent), whether /proc is read-only, and the errno of opening
 * /proc/self/comm for writing (0: it opened; nothing is written). */
static void proc_view(void) {
    int procs = 0, keys = -1, comm = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d));)
        if (isdigit((unsigned char)e->d_name[0])) procs++;
    if (d) closedir(d);
    struct stat st;
    if (stat("/proc/keys", &st) == 0) keys = S_ISCHR(st.st_mode);
    struct statvfs vfs;
    int ro = statvfs("/proc", &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
    int fd = open("/proc/self/comm", O_WRONLY | O_CLOEXEC);
    if (fd < 0) comm = errno;
    else close(fd);
    printf("%d %d %d %d\n", procs, keys, ro, comm);
}

/* The template payload (this binary run with "--serve"): set state, get
 * ready; each fork prints its argument and the state and exits with the
 * argument (100: sleeps to be killed; WHOAMI: prints whoami() and exits
 * 0; HOG: touches 512 MiB, then exits 0). _exit: no atexit handlers (nor LeakSanitizer) in a fork. */
static int serve_main(void) {
    state = 42;
    uint64_t arg = 0;
    if (sandbox_serve_forks(&arg) != SANDBOX_OK) {
        fprintf(stderr, "serve: %s\n", sandbox_last_error_message());
        return 100;
    }
    if (arg == WHOAMI || arg == PROC_VIEW) {
        if (arg == WHOAMI) whoami();
        else proc_view();
        fflush(stdout);
        _exit(0);
    }
    if (arg == 100) sleep(60);
    if (arg == HOG) {
        size_t len = (size_t)512 << 20;
        char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) _exit(101);
        memset(p, 1, len);
        _exit(0);
    }
    printf("fork %llu state %d\n", (unsigned long long)arg, state);
    state = 7; /* not seen by the next fork */
    fflush(stdout);
    _exit((int)arg);
}

static char self_path[4096];

static sandbox_template_t *new_template(sandbox_t *sb) {
    const char *argv[] = {self_path, "--serve"};
    sandbox_template_t *tpl = NULL;
    CHECK_OK(sandbox_template_new(sb, argv, 2, &tpl));
    return tpl;
}

/* Fork with stdout piped; check what it printed and its exit status. */
static void fork_and_check(sandbox_template_t *tpl, uint64_t arg) {
    sandbox_fork_t *f = NULL;
    CHECK_OK(sandbox_template_fork_stdio(tpl, arg, 0, SANDBOX_FORK_PIPE, 2, &f));
    if (!f) return;
    CHECK(sandbox_fork_pid(f) > 0 && sandbox_fork_pid(f) != sandbox_template_pid(tpl),
          "fork pid %d template pid %d", sandbox_fork_pid(f), sandbox_template_pid(tpl));
    CHECK(sandbox_fork_pidfd(f) >= 0, "pidfd");
    CHECK(sandbox_fork_stdin_fd(f) == -1 && sandbox_fork_stderr_fd(f) == -1, "not piped");
    char out[128], want[64];
    read_all(sandbox_fork_stdout_fd(f), out, sizeof out);
    snprintf(want, sizeof want, "fork %llu state 42\n", (unsigned long long)arg);
    CHECK(strcmp(out, want) == 0, "fork printed \"%s\"", out);
    int st = -1;
    CHECK_OK(sandbox_fork_wait(f, &st));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == (int)arg, "status %#x", st);
    int again = -1;
    CHECK_OK(sandbox_fork_wait(f, &again));
    CHECK(again == st, "second wait %#x", again);
    /* No cgroup limits: the fork has no cgroup of its own. */
    sandbox_cgroup_stats_t cg;
    memset(&cg, 0xa5, sizeof cg);
    CHECK_OK(sandbox_fork_cgroup_stats(f, &cg));
    CHECK(!cg.has_cgroup && cg.oom_kills == SANDBOX_UNKNOWN &&
              cg.memory_peak_bytes == SANDBOX_UNKNOWN && cg.cpu_time_ns == SANDBOX_UNKNOWN &&
              cg.pids_peak == SANDBOX_UNKNOWN,
          "stats without limits: has %d oom %llu", (int)cg.has_cgroup,
          (unsigned long long)cg.oom_kills);
    sandbox_fork_free(f);
}

/* Fork `arg` from `tpl`, wait, and return its status and cgroup stats. */
static int fork_stats(sandbox_template_t *tpl, uint64_t arg, sandbox_cgroup_stats_t *cg) {
    sandbox_fork_t *f = NULL;
    int st = -1;
    memset(cg, 0, sizeof *cg);
    CHECK_OK(sandbox_template_fork_stdio(tpl, arg, 0, SANDBOX_FORK_PIPE, 2, &f));
    if (!f) return st;
    char out[128];
    read_all(sandbox_fork_stdout_fd(f), out, sizeof out);
    /* Not waited for yet: nothing read. */
    CHECK_OK(sandbox_fork_cgroup_stats(f, cg));
    CHECK(!cg->has_cgroup, "stats before wait");
    CHECK_OK(sandbox_fork_wait(f, &st));
    CHECK_OK(sandbox_fork_cgroup_stats(f, cg));
    sandbox_fork_free(f);
    return st;
}

/* A template with a 64 MiB memory limit: each fork has a cgroup of its
 * own. One that touches 512 MiB is killed (SIGKILL) and its cgroup counted
 * the OOM kill; one that prints and exits counted none. Root only. */
static void cgroup_forks(void) {
    if (geteuid() != 0) return; /* as nobody: no cgroup to create */
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_memory_limit(sb, 64 << 20));
    sandbox_template_t *tpl = new_template(sb);
    if (!tpl) {
        sandbox_free(sb);
        return;
    }
    sandbox_cgroup_stats_t cg;
    int st = fork_stats(tpl, HOG, &cg);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "hog status %#x", st);
    CHECK(cg.has_cgroup && cg.oom_kills != SANDBOX_UNKNOWN && cg.oom_kills >= 1,
          "hog: has %d oom kills %llu", (int)cg.has_cgroup, (unsigned long long)cg.oom_kills);
    CHECK(cg.memory_peak_bytes != SANDBOX_UNKNOWN && cg.memory_peak_bytes <= (64u << 20) + 65536,
          "hog peak %llu", (unsigned long long)cg.memory_peak_bytes);

    st = fork_stats(tpl, 7, &cg);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7, "status %#x", st);
    CHECK(cg.has_cgroup && cg.oom_kills == 0, "small fork: has %d oom kills %llu",
          (int)cg.has_cgroup, (unsigned long long)cg.oom_kills);
    sandbox_template_free(tpl);
    sandbox_free(sb);
}

static void caller_side(void) {
    sandbox_t *sb = sandbox_new();
    sandbox_template_t *tpl = new_template(sb);
    if (!tpl) {
        sandbox_free(sb);
        return;
    }
    CHECK(sandbox_template_pid(tpl) > 0, "template pid");
    fork_and_check(tpl, 7);
    fork_and_check(tpl, 9);

    /* A fork killed by the caller: its status says SIGKILL. */
    sandbox_fork_t *f = NULL;
    CHECK_OK(sandbox_template_fork(tpl, 100, &f));
    if (f) {
        CHECK_OK(sandbox_fork_kill(f));
        int st = 0;
        CHECK_OK(sandbox_fork_wait(f, &st));
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
        sandbox_fork_free(f);
    }
    /* A fork freed while it runs is killed; the template goes on. */
    f = NULL;
    CHECK_OK(sandbox_template_fork(tpl, 100, &f));
    sandbox_fork_free(f);
    fork_and_check(tpl, 3);

    /* The template killed (it is ours): later forks fail, typed. */
    CHECK(kill(sandbox_template_pid(tpl), SIGKILL) == 0, "kill the template");
    f = NULL;
    /* (the message is "gone" or the socket's ECONNRESET, by timing) */
    CHECK_RC(sandbox_template_fork(tpl, 1, &f), SANDBOX_IO);
    CHECK(f == NULL, "fork written on failure");
    sandbox_template_free(tpl);
    sandbox_free(sb);
}

/* What a WHOAMI fork of `tpl` reported: pid, ppid, /proc entries, NS inodes. */
struct whoami { int pid, ppid, procs, own_ns_reported; unsigned long ns[N_NS]; };

/* Whether the JSON report of `f` says it made its own pid namespace (and
 * has a "template" layer at all). */
static int reports_own_ns(sandbox_fork_t *f) {
    char *json = NULL;
    CHECK_OK(sandbox_fork_enforcement_json(f, &json));
    if (!json) return -1;
    CHECK(strstr(json, "\"layer\":\"template\"") != NULL, "no template layer: %s", json);
    int own = strstr(json, "new pid namespace made by the fork") != NULL;
    sandbox_string_free(json);
    return own;
}

static struct whoami fork_whoami(sandbox_template_t *tpl) {
    struct whoami w;
    memset(&w, 0, sizeof w);
    sandbox_fork_t *f = NULL;
    CHECK_OK(sandbox_template_fork_stdio(tpl, WHOAMI, 0, SANDBOX_FORK_PIPE, 2, &f));
    if (!f) return w;
    char out[256];
    read_all(sandbox_fork_stdout_fd(f), out, sizeof out);
    int n = sscanf(out, "%d %d %d %lu %lu %lu %lu %lu %lu", &w.pid, &w.ppid, &w.procs,
                   &w.ns[0], &w.ns[1], &w.ns[2], &w.ns[3], &w.ns[4], &w.ns[5]);
    CHECK(n == 3 + N_NS, "fork printed \"%s\"", out);
    w.own_ns_reported = reports_own_ns(f);
    int st = -1;
    CHECK_OK(sandbox_fork_wait(f, &st));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
    sandbox_fork_free(f);
    return w;
}

/* SANDBOX_TEMPLATE_FORK_NAMESPACES: each fork is pid 1 of its own pid
 * namespace (its parent, the template, outside it), alone in its /proc,
 * and every namespace differs from the template's and its sibling's. With
 * no flag a fork shares the template's. Unknown flag bits are refused. */
static void namespaced_forks(void) {
    sandbox_t *sb = sandbox_new();
    const char *argv[] = {self_path, "--serve"};
    sandbox_template_t *tpl = NULL;
    CHECK_RC(sandbox_template_new_opts(sb, argv, 2, 30000, 1u << 7, &tpl),
             SANDBOX_INVALID_ARGUMENT);
    CHECK_MSG("flags");
    CHECK(tpl == NULL, "template written on failure");
    if (getuid() == 0) {
        /* A root box that keeps CAP_SYS_ADMIN under the default profile:
         * the profile relaxed for the forks' mounts would reach the host. */
        sandbox_t *keeps = sandbox_new();
        CHECK_OK(sandbox_seccomp_default(keeps));
        CHECK_RC(sandbox_template_new_opts(keeps, argv, 2, 30000,
                                           SANDBOX_TEMPLATE_FORK_NAMESPACES, &tpl),
                 SANDBOX_INVALID_CONFIG);
        CHECK_MSG("CAP_SYS_ADMIN");
        CHECK(tpl == NULL, "template written on failure");
        sandbox_free(keeps);
    }

    CHECK_OK(sandbox_template_new_opts(sb, argv, 2, 30000, SANDBOX_TEMPLATE_FORK_NAMESPACES, &tpl));
    if (!tpl) {
        sandbox_free(sb);
        return;
    }
    char tpid[16];
    snprintf(tpid, sizeof tpid, "%d", sandbox_template_pid(tpl));
    struct whoami a = fork_whoami(tpl), b = fork_whoami(tpl);
    CHECK(a.pid == 1 && a.ppid == 0 && a.procs == 1, "pid %d ppid %d procs %d", a.pid, a.ppid,
          a.procs);
    CHECK(b.pid == 1 && b.ppid == 0 && b.procs == 1, "pid %d ppid %d procs %d", b.pid, b.ppid,
          b.procs);
    CHECK(a.own_ns_reported == 1, "the fork's report does not say its pid namespace is its own");
    char *json = NULL;
    CHECK_OK(sandbox_template_enforcement_json(tpl, &json));
    CHECK(json && strstr(json, "namespaces of their own"), "template report: %s", json);
    sandbox_string_free(json);
    for (int i = 0; i < N_NS; i++) {
        unsigned long t = ns_inode(tpid, NS[i]);
        CHECK(t != 0 && a.ns[i] != 0 && a.ns[i] != t, "%s: fork %lu template %lu", NS[i],
              a.ns[i], t);
        CHECK(a.ns[i] != b.ns[i], "%s shared by two forks (%lu)", NS[i], a.ns[i]);
    }
    sandbox_template_free(tpl);

    /* Flags 0: the fork shares the template's namespaces. */
    tpl = NULL;
    CHECK_OK(sandbox_template_new_opts(sb, argv, 2, 30000, 0, &tpl));
    if (tpl) {
        snprintf(tpid, sizeof tpid, "%d", sandbox_template_pid(tpl));
        struct whoami p = fork_whoami(tpl);
        CHECK(p.pid > 1 && p.procs > 1, "pid %d procs %d", p.pid, p.procs);
        CHECK(p.ns[0] == ns_inode(tpid, "net"), "net %lu", p.ns[0]);
        CHECK(p.own_ns_reported == 0, "a plain fork's report claims its own pid namespace");
        sandbox_template_free(tpl);
    }
    sandbox_free(sb);
}

/* A strict template box masks its /proc: each namespaced fork mounts its
 * own read-only, /proc/keys masked again (where this kernel has it), and
 * sees only itself there. */
static void strict_namespaced_forks(void) {
    sandbox_t *sb = sandbox_strict();
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", self_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    CHECK_OK(sandbox_ro_bind(sb, dir, dir)); /* this binary and ./lib */
    const char *argv[] = {self_path, "--serve"};
    sandbox_template_t *tpl = NULL;
    CHECK_OK(sandbox_template_new_opts(sb, argv, 2, 30000, SANDBOX_TEMPLATE_FORK_NAMESPACES, &tpl));
    if (!tpl) {
        sandbox_free(sb);
        return;
    }
    struct stat st;
    int keys = stat("/proc/keys", &st) == 0 ? 1 : -1;
    for (int i = 0; i < 2; i++) {
        sandbox_fork_t *f = NULL;
        CHECK_OK(sandbox_template_fork_stdio(tpl, PROC_VIEW, 0, SANDBOX_FORK_PIPE, 2, &f));
        if (!f) break;
        char out[128] = "";
        read_all(sandbox_fork_stdout_fd(f), out, sizeof out);
        int procs = 0, seen = 0, ro = 0, comm = 0;
        CHECK(sscanf(out, "%d %d %d %d", &procs, &seen, &ro, &comm) == 4, "fork printed \"%s\"", out);
        CHECK(procs == 1 && seen == keys && ro == 1 && comm == EROFS,
              "procs %d keys %d (want %d) ro %d comm errno %d", procs, seen, keys, ro, comm);
        int status = -1;
        CHECK_OK(sandbox_fork_wait(f, &status));
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
        sandbox_fork_free(f);
    }
    sandbox_template_free(tpl);
    sandbox_free(sb);
}

static void caller_errors(void) {
    sandbox_t *sb = sandbox_new();
    sandbox_template_t *tpl = NULL;
    /* Exits before its ready point. */
    const char *quits[] = {"/bin/true"};
    CHECK_RC(sandbox_template_new(sb, quits, 1, &tpl), SANDBOX_IO);
    CHECK_MSG("gone");
    /* Never gets there: killed after the wait. */
    const char *sleeps[] = {"/bin/sleep", "30"};
    CHECK_RC(sandbox_template_new_timeout(sb, sleeps, 2, 200, &tpl), SANDBOX_IO);
    CHECK_MSG("never called serve_forks");
    const char *missing[] = {"/no/such/program"};
    CHECK_RC(sandbox_template_new(sb, missing, 1, &tpl), SANDBOX_PROGRAM_NOT_FOUND);
    CHECK(tpl == NULL, "template written on failure");
    CHECK_RC(sandbox_template_new(NULL, quits, 1, &tpl), SANDBOX_NULL_PARAMETER);
    CHECK_RC(sandbox_template_new(sb, quits, 1, NULL), SANDBOX_NULL_PARAMETER);

    sandbox_fork_t *f = NULL;
    CHECK_RC(sandbox_template_fork(NULL, 1, &f), SANDBOX_NULL_PARAMETER);
    tpl = new_template(sb);
    if (tpl) {
        CHECK_RC(sandbox_template_fork(tpl, 1, NULL), SANDBOX_NULL_PARAMETER);
        CHECK_RC(sandbox_template_fork_stdio(tpl, 1, -5, 1, 2, &f), SANDBOX_INVALID_ARGUMENT);
        CHECK_MSG("stdin_fd");
        CHECK(f == NULL, "fork written on failure");
        sandbox_template_free(tpl);
    }
    CHECK_RC(sandbox_fork_wait(NULL, NULL), SANDBOX_NULL_PARAMETER);
    sandbox_cgroup_stats_t cg;
    CHECK_RC(sandbox_fork_cgroup_stats(NULL, &cg), SANDBOX_NULL_PARAMETER);
    CHECK(sandbox_fork_pid(NULL) == -1 && sandbox_template_pid(NULL) == -1, "NULL pids");
    sandbox_fork_free(NULL);
    sandbox_template_free(NULL);
    sandbox_free(sb);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--serve") == 0) return serve_main();
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    CHECK(n > 0, "readlink /proc/self/exe");
    if (n > 0) self_path[n] = '\0';
    not_a_template();
    round_trip();
    caller_side();
    caller_errors();
    namespaced_forks();
    strict_namespaced_forks();
    cgroup_forks();
    return summary("test_template");
}
