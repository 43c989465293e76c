/* Services and profiles: socket activation (sandbox_listen_fd), published
 * ports (sandbox_publish, sandbox_publish_listener) reaching a server in a
 * box with an empty network namespace, and profiles saved to and loaded
 * from files and TOML. Needs /usr/bin/python3 for the server in the box.
 * Rootless boxes only: it runs as root and as nobody. */
#define _GNU_SOURCE
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

/* A TCP socket listening on 127.0.0.1 at a free port; the port in *port. */
static int loopback_listener(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* Connect to 127.0.0.1:port and read what the peer sends until EOF. */
static void fetch(uint16_t port, char *buf, size_t cap) {
    buf[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) read_all(fd, buf, cap);
    close(fd);
}

/* Read one line from `fd` (the box's stdout) into buf. */
static void read_line(int fd, char *buf, size_t cap) {
    size_t n = 0;
    while (n < cap - 1 && read(fd, buf + n, 1) == 1 && buf[n] != '\n') n++;
    buf[n] = '\0';
}

/* The box's server: accepts one connection on fd 3 (socket activation) or
 * on 127.0.0.1:PORT (argv[1]), says "ready" first, then sends what it
 * sees of itself. */
static const char SERVER[] =
    "import os, socket, sys\n"
    "port = int(sys.argv[1])\n"
    "if port:\n"
    "    s = socket.socket()\n"
    "    s.bind(('127.0.0.1', port))\n"
    "    s.listen()\n"
    "else:\n"
    "    s = socket.socket(fileno=3)\n"
    "print('ready', flush=True)\n"
    "c, _ = s.accept()\n"
    "ifs = sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:])\n"
    "c.sendall(('pid=%d fds=%s lpid=%s ifs=%s' % (os.getpid(), os.environ.get('LISTEN_FDS'),\n"
    "           os.environ.get('LISTEN_PID'), ','.join(ifs))).encode())\n"
    "c.close()\n";

/* Spawn the server in `sb` (stdout piped), wait for "ready", fetch from
 * host port `via`, and reap the box. */
static void serve_once(sandbox_t *sb, int box_port, uint16_t via, const char *want) {
    char port_arg[16], line[64], body[256];
    snprintf(port_arg, sizeof port_arg, "%d", box_port);
    const char *argv[] = {"/usr/bin/python3", "-c", SERVER, port_arg};
    CHECK_OK(sandbox_stdout(sb, SANDBOX_STDIO_PIPE, -1));
    CHECK_OK(sandbox_timeout(sb, 20000));
    sandbox_child_t *child = NULL;
    CHECK_OK(sandbox_spawn(sb, argv, 4, &child));
    if (child == NULL) return;
    read_line(sandbox_child_stdout_fd(child), line, sizeof line);
    CHECK(strcmp(line, "ready") == 0, "server said \"%s\"", line);
    fetch(via, body, sizeof body);
    CHECK(strcmp(body, want) == 0, "served \"%s\", want \"%s\"", body, want);
    sandbox_outcome_t o;
    CHECK_OK(sandbox_child_wait(child, &o));
    CHECK(o.exited && o.exit_code == 0, "server exit %d reason %s", o.exit_code,
          sandbox_reason_name((int)o.reason));
    sandbox_child_free(child);
}

static sandbox_t *private_net(void) {
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_user_ns(sb));
    CHECK_OK(sandbox_pid_ns(sb));
    CHECK_OK(sandbox_net_ns(sb));
    return sb;
}

static void socket_activation(void) {
    uint16_t port = 0;
    int l = loopback_listener(&port);
    CHECK(l >= 0, "listener");
    sandbox_t *sb = private_net();
    CHECK_OK(sandbox_listen_fd(sb, l));
    /* pid 2 in the box (the init is 1); only lo. */
    serve_once(sb, 0, port, "pid=2 fds=1 lpid=2 ifs=lo");
    sandbox_free(sb);
    close(l);
}

static void published_ports(void) {
    /* A listener of ours, forwarded to the box's port 8080. */
    uint16_t port = 0;
    int l = loopback_listener(&port);
    CHECK(l >= 0, "listener");
    sandbox_t *sb = private_net();
    CHECK_OK(sandbox_publish_listener(sb, l, 8080));
    serve_once(sb, 8080, port, "pid=2 fds=None lpid=None ifs=lo");
    sandbox_free(sb);
    close(l);

    /* A host address bound at spawn (a port just found free). */
    l = loopback_listener(&port);
    close(l);
    char host[32];
    snprintf(host, sizeof host, "127.0.0.1:%u", port);
    sb = private_net();
    CHECK_OK(sandbox_publish(sb, host, 8080));
    serve_once(sb, 8080, port, "pid=2 fds=None lpid=None ifs=lo");
    sandbox_free(sb);

    /* Bad addresses: the C side parses; the core checks the rest. */
    sb = sandbox_new();
    CHECK_RC(sandbox_publish(sb, "localhost", 80), SANDBOX_INVALID_ARGUMENT);
    CHECK_MSG("invalid host");
    CHECK_RC(sandbox_publish(sb, NULL, 80), SANDBOX_NULL_PARAMETER);
    CHECK_OK(sandbox_publish(sb, "127.0.0.1:1234", 80));
    CHECK_RC(sandbox_validate(sb), SANDBOX_INVALID_CONFIG); /* needs net_ns and pid_ns */
    CHECK_MSG("pid_ns");
    sandbox_free(sb);
}

static void profiles(void) {
    char dir[] = "/tmp/sandbox-ctest-prof-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char json[64], toml[64], bad[64];
    snprintf(json, sizeof json, "%s/box.json", dir);
    snprintf(toml, sizeof toml, "%s/box.toml", dir);
    snprintf(bad, sizeof bad, "%s/box.yaml", dir);

    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_uts_ns(sb));
    CHECK_OK(sandbox_user_ns(sb));
    CHECK_OK(sandbox_hostname(sb, "profiled"));
    CHECK_OK(sandbox_umask(sb, 077));
    CHECK_OK(sandbox_save(sb, json));
    CHECK_OK(sandbox_save(sb, toml));
    CHECK_RC(sandbox_save(sb, bad), SANDBOX_INVALID_CONFIG);
    CHECK_MSG(".json or .toml");

    char *text = NULL;
    CHECK_OK(sandbox_to_toml(sb, &text));
    CHECK(text != NULL && strstr(text, "hostname = \"profiled\"") != NULL, "toml: %s",
          text ? text : "(null)");
    sandbox_t *from_text = NULL;
    CHECK_OK(sandbox_from_toml(text, &from_text));
    sandbox_string_free(text);

    const char *paths[] = {json, toml};
    for (int i = 0; i < 3; i++) {
        sandbox_t *loaded = NULL;
        if (i < 2)
            CHECK_OK(sandbox_load(paths[i], &loaded));
        else
            loaded = from_text;
        if (loaded == NULL) continue;
        const char *argv[] = {"/bin/sh", "-c", "uname -n; umask"};
        sandbox_output_t *out = NULL;
        CHECK_OK(sandbox_output(loaded, argv, 3, &out));
        const uint8_t *data = NULL;
        size_t len = 0;
        if (out != NULL) CHECK_OK(sandbox_output_stdout(out, &data, &len));
        CHECK(len == 14 && memcmp(data, "profiled\n0077\n", 14) == 0, "loaded box said \"%.*s\"",
              (int)len, data ? (const char *)data : "");
        sandbox_output_free(out);
        sandbox_free(loaded);
    }

    /* Bad profiles: typed errors naming the file and key. */
    sandbox_t *none = (sandbox_t *)0x1;
    FILE *f = fopen(toml, "w");
    if (f != NULL) {
        fputs("no_such_key = 1\n", f);
        fclose(f);
    }
    CHECK_RC(sandbox_load(toml, &none), SANDBOX_INVALID_CONFIG);
    CHECK_MSG("no_such_key");
    CHECK_MSG(toml);
    CHECK_RC(sandbox_load("/nonexistent/box.json", &none), SANDBOX_IO);
    CHECK_RC(sandbox_from_toml("hostname = ", &none), SANDBOX_INVALID_CONFIG);
    CHECK_RC(sandbox_load(NULL, &none), SANDBOX_NULL_PARAMETER);
    CHECK(none == (sandbox_t *)0x1, "sb_out untouched");

    sandbox_free(sb);
    unlink(json);
    unlink(toml);
    rmdir(dir);
}

int main(void) {
    socket_activation();
    published_ports();
    profiles();
    return summary("test_services");
}
