/* Escape probes for the hardening tests. Each case makes one attempt and
 * prints "RESULT ret=<r> errno=<e>"; the test decides. SAFETY: dangerous
 * syscalls are only ever called with invalid arguments, so even a broken
 * filter cannot act. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef AF_ALG
#define AF_ALG 38
#endif

static int result(long r) {
    printf("RESULT ret=%ld errno=%d\n", r, r < 0 ? errno : 0);
    fflush(stdout);
    return 0;
}

static void *thread_status(void *arg) {
    (void)arg;
    char buf[4096];
    int fd = open("/proc/thread-self/status", O_RDONLY);
    if (fd < 0) return (void *)1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return (void *)1;
    buf[n] = 0;
    char *s = strstr(buf, "\nSeccomp:");
    if (!s) return (void *)1;
    printf("THREAD %.12s\n", s + 1);
    return strstr(s, "Seccomp:\t2") == s + 1 ? (void *)0 : (void *)1;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *c = argv[1];
    if (!strcmp(c, "add_key"))
        return result(syscall(SYS_add_key, "user", "rsandbox-canary", "x", 1, -3 /* session */));
    if (!strcmp(c, "keyctl"))
        return result(syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3, 1));
    if (!strcmp(c, "bpf")) {
        char attr[128] = {0}; /* BPF_MAP_CREATE with a zero map type: invalid */
        return result(syscall(SYS_bpf, 0, attr, sizeof attr));
    }
    if (!strcmp(c, "perf_event_open")) {
        struct perf_event_attr a; memset(&a, 0, sizeof a);
        a.size = sizeof a; a.type = PERF_TYPE_SOFTWARE; a.config = PERF_COUNT_SW_CPU_CLOCK;
        a.disabled = 1; a.exclude_kernel = 1;
        long r = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
        if (r >= 0) close(r);
        return result(r);
    }
    if (!strcmp(c, "userfaultfd")) {
        long r = syscall(SYS_userfaultfd, O_CLOEXEC);
        if (r >= 0) close(r);
        return result(r);
    }
    if (!strcmp(c, "io_uring_setup")) {
        char params[120] = {0};
        long r = syscall(425 /* io_uring_setup */, 1, params);
        if (r >= 0) close(r);
        return result(r);
    }
    if (!strcmp(c, "mount")) /* invalid target: cannot mount anything */
        return result(mount("none", "/nonexistent-rsandbox-target", "tmpfs", 0, NULL));
    if (!strcmp(c, "umount"))
        return result(umount2("/nonexistent-rsandbox-target", 0));
    if (!strcmp(c, "unshare_user")) return result(unshare(CLONE_NEWUSER));
    if (!strcmp(c, "unshare_ns")) return result(unshare(CLONE_NEWNS));
    if (!strcmp(c, "clone_newuser")) {
        long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (r == 0) _exit(0);
        if (r > 0) waitpid(r, NULL, 0);
        return result(r);
    }
    if (!strcmp(c, "clone3")) {
        uint64_t args[11] = {0};
        args[0] = CLONE_NEWUSER; args[4] = SIGCHLD; /* flags, exit_signal */
        long r = syscall(435, args, sizeof args);
        if (r == 0) _exit(0);
        if (r > 0) waitpid(r, NULL, 0);
        return result(r);
    }
    if (!strcmp(c, "fork")) { /* plain fork must still work */
        pid_t p = fork();
        if (p == 0) _exit(7);
        int st = 0;
        waitpid(p, &st, 0);
        return result(WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 0 : -1);
    }
    if (!strcmp(c, "ptrace") && argc > 2)
        return result(ptrace(PTRACE_ATTACH, atoi(argv[2]), 0, 0));
    if (!strcmp(c, "process_vm_readv") && argc > 2) {
        char buf[8]; struct iovec l = {buf, 8}, r = {(void *)0x10000, 8};
        return result(process_vm_readv(atoi(argv[2]), &l, 1, &r, 1, 0));
    }
    if (!strcmp(c, "tiocsti")) {
        char ch = 'X';
        long r1 = ioctl(0, TIOCSTI, &ch);
        int e1 = errno;
        /* The same request with high bits set: the kernel ignores them. */
        long r2 = syscall(SYS_ioctl, 0, 0x100000000UL | TIOCSTI, &ch);
        printf("FIRST ret=%ld errno=%d\n", r1, r1 < 0 ? e1 : 0);
        return result(r2);
    }
    if (!strcmp(c, "tiocgwinsz")) { /* an ordinary ioctl must still work */
        struct winsize w;
        return result(ioctl(0, TIOCGWINSZ, &w));
    }
    if (!strcmp(c, "open_by_handle_at")) {
        char h[136] = {0}; /* struct file_handle with handle_bytes 0: invalid */
        return result(syscall(SYS_open_by_handle_at, AT_FDCWD, h, O_RDONLY));
    }
    if (!strcmp(c, "af_alg")) {
        long r = socket(AF_ALG, SOCK_SEQPACKET, 0);
        if (r >= 0) close(r);
        return result(r);
    }
    if (!strcmp(c, "af_packet")) {
        long r = socket(AF_PACKET, SOCK_RAW, 0);
        if (r >= 0) close(r);
        return result(r);
    }
    if (!strcmp(c, "af_unix")) { /* ordinary sockets must still work */
        long r = socket(AF_UNIX, SOCK_STREAM, 0);
        if (r >= 0) close(r);
        return result(r);
    }
    if (!strcmp(c, "personality")) {
        long r = personality(0x0040000 /* ADDR_NO_RANDOMIZE */);
        long q = personality(0xffffffff);
        printf("QUERY %ld\n", q);
        return result(r);
    }
#ifdef __x86_64__
    if (!strcmp(c, "x32")) { /* getpid through the x32 ABI */
        long r = syscall(39 | 0x40000000);
        return result(r);
    }
    if (!strcmp(c, "int80")) { /* getpid through the i386 ABI (int 0x80) */
        long r;
        __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
        return result(r);
    }
#endif
    if (!strcmp(c, "nr") && argc > 2) { /* a raw number, arguments all -1 */
        long r = syscall(strtol(argv[2], NULL, 0), -1L, -1L, -1L, -1L, -1L, -1L);
        return result(r);
    }
    if (!strcmp(c, "open_tree_attr")) /* no path, bad fd: fails if reached */
        return result(syscall(467, -1, "", 0, NULL, 0));
    if (!strcmp(c, "socket_family") && argc > 2) {
        /* An invalid type: the kernel refuses it (EINVAL) before it would
         * load a protocol module, so nothing happens on the host even if
         * the filter let it through. */
        long r = socket(atoi(argv[2]), 99, 0);
        if (r >= 0) close(r);
        return result(r);
    }
    if (!strcmp(c, "set_mempolicy")) /* an invalid mode: EINVAL if reached */
        return result(syscall(SYS_set_mempolicy, 0x7fff, NULL, 0));
    if (!strcmp(c, "chroot")) /* a missing directory: ENOENT if reached */
        return result(syscall(SYS_chroot, "/nonexistent-rsandbox"));
    if (!strcmp(c, "adjtimex")) { /* a read-only query */
        char buf[256] = {0}; /* struct timex, modes 0 */
        return result(syscall(SYS_adjtimex, buf));
    }
    if (!strcmp(c, "acct")) /* invalid path: cannot turn accounting on */
        return result(syscall(SYS_acct, "/nonexistent-rsandbox/acct"));
    if (!strcmp(c, "reboot")) /* invalid magic: EINVAL if ever reached */
        return result(syscall(SYS_reboot, 0, 0, 0, NULL));
    if (!strcmp(c, "mkdir") && argc > 2) return result(mkdir(argv[2], 0700));
    if (!strcmp(c, "ids")) {
        printf("UID %d EUID %d\n", (int)getuid(), (int)geteuid());
        return 0;
    }
    if (!strcmp(c, "threads")) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, thread_status, NULL);
        int bad = thread_status(NULL) != 0;
        for (int i = 0; i < 4; i++) { void *r; pthread_join(t[i], &r); bad |= r != 0; }
        return result(bad ? -1 : 0);
    }
    if (!strcmp(c, "open_write") && argc > 2) {
        long r = open(argv[2], O_WRONLY);
        if (r >= 0) close(r); /* never write */
        return result(r);
    }
    if (!strcmp(c, "read") && argc > 2) {
        char buf[64];
        long r = open(argv[2], O_RDONLY);
        if (r >= 0) { long n = read(r, buf, sizeof buf); close(r); r = n; }
        return result(r);
    }
    if (!strcmp(c, "write") && argc > 2) {
        long r = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (r >= 0) { long n = write(r, "pwned", 5); close(r); r = n; }
        return result(r);
    }
    fprintf(stderr, "unknown case %s\n", c);
    return 2;
}
