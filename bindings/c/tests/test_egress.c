/* Egress through the C API: the sandbox_egress_* setters, a denied name
 * answered NXDOMAIN and never sent upstream, the violation callback (on a
 * gateway thread) and the JSON record, a live update, and bad input as
 * SANDBOX_INVALID_CONFIG before spawn. Every server is local: the upstream
 * resolver is a UDP socket of this test that must stay silent. Rootless: it
 * runs as root and as nobody. */
#define _GNU_SOURCE
#include "check.h"

#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>

/* What the test resolver was asked: the names, as DNS wire labels. */
static int asked_no, asked_later;

/* Answer every query waiting on `up` with NXDOMAIN, noting the names. */
static void answer_queries(int up) {
    unsigned char q[512];
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    ssize_t n;
    while ((n = recvfrom(up, q, sizeof q, 0, (struct sockaddr *)&from, &flen)) > 12) {
        if (memmem(q, (size_t)n, "\x02no\x04test", 8) != NULL) asked_no++;
        if (memmem(q, (size_t)n, "\x05later\x04test", 11) != NULL) asked_later++;
        q[2] |= 0x80;                          /* a response */
        q[3] = (unsigned char)((q[3] & 0xf0) | 3); /* NXDOMAIN */
        sendto(up, q, (size_t)n, 0, (struct sockaddr *)&from, flen);
        flen = sizeof from;
    }
}

static atomic_int seen;
static char seen_name[256];

static void on_violation(const sandbox_violation_t *v, void *userdata) {
    (void)userdata;
    if (atomic_fetch_add(&seen, 1) == 0 && v->name != NULL)
        snprintf(seen_name, sizeof seen_name, "%s:%s", v->kind, v->name);
}

int main(void) {
    /* The upstream resolver: bound, never answering, checked for silence. */
    int up = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    CHECK(up >= 0 && bind(up, (struct sockaddr *)&a, sizeof a) == 0 &&
              getsockname(up, (struct sockaddr *)&a, &len) == 0,
          "bind the resolver");
    char resolver[64];
    snprintf(resolver, sizeof resolver, "127.0.0.1:%u", ntohs(a.sin_port));

    sandbox_t *sb = sandbox_strict();
    CHECK_OK(sandbox_egress_allow_domain(sb, "ok.test"));
    CHECK_OK(sandbox_egress_allow_cidr(sb, "10.1.2.0/24:443"));
    CHECK_OK(sandbox_egress_resolve_with(sb, resolver));
    CHECK_RC(sandbox_egress_resolve_with(sb, "not an address"), SANDBOX_INVALID_ARGUMENT);
    CHECK_OK(sandbox_stdout(sb, SANDBOX_STDIO_PIPE, -1));
    CHECK_OK(sandbox_stdin(sb, SANDBOX_STDIO_PIPE, -1));

    const char *argv[] = {"/bin/sh", "-c",
                          "getent hosts no.test; echo rc=$?; read go; "
                          "getent hosts later.test; echo rc=$?"};
    sandbox_child_t *child = NULL;
    CHECK_OK(sandbox_spawn(sb, argv, 3, &child));
    if (child != NULL) {
        CHECK_OK(sandbox_child_on_violation(child, on_violation, NULL));
        CHECK_RC(sandbox_child_on_violation(child, NULL, NULL), SANDBOX_NULL_PARAMETER);
        int out = sandbox_child_stdout_fd(child);
        char line[128];
        size_t n = 0;
        while (n < sizeof line - 1 && read(out, line + n, 1) == 1 && line[n] != '\n') n++;
        line[n] = '\0';
        CHECK(strcmp(line, "rc=2") == 0, "first lookup: %s", line);

        /* Allow later.test from now on: it is then looked up upstream (the
         * test resolver says NXDOMAIN) and no longer a violation. */
        sandbox_t *next = sandbox_new();
        CHECK_OK(sandbox_egress_allow_domain(next, "ok.test"));
        CHECK_OK(sandbox_egress_allow_domain(next, "later.test"));
        CHECK_OK(sandbox_child_update_egress(child, next));
        sandbox_t *none = sandbox_new();
        CHECK_RC(sandbox_child_update_egress(child, none), SANDBOX_INVALID_CONFIG);
        sandbox_free(none);
        sandbox_free(next);

        int in = sandbox_child_take_stdin_fd(child);
        CHECK(write(in, "go\n", 3) == 3, "release the payload");
        close(in);
        /* Serve the resolver until the payload is done. */
        for (;;) {
            struct pollfd p[2] = {{out, POLLIN, 0}, {up, POLLIN, 0}};
            if (poll(p, 2, 30000) <= 0) break;
            if (p[1].revents) answer_queries(up);
            if (p[0].revents) {
                char c;
                if (read(out, &c, 1) <= 0) break;
            }
        }
        sandbox_outcome_t o;
        CHECK_OK(sandbox_child_wait(child, &o));
        char *json = NULL;
        CHECK_OK(sandbox_child_violations_json(child, &json));
        CHECK(json != NULL && strstr(json, "\"name\":\"no.test\"") != NULL, "json: %s", json);
        CHECK(json != NULL && strstr(json, "later.test") == NULL, "after the update: %s", json);
        sandbox_string_free(json);
        sandbox_child_free(child);
    }
    /* A and AAAA queries: one violation each, both for no.test. */
    CHECK(atomic_load(&seen) >= 1, "callbacks: %d", atomic_load(&seen));
    CHECK(strcmp(seen_name, "dns:no.test") == 0, "callback saw %s", seen_name);
    answer_queries(up);
    CHECK(asked_no == 0, "the denied name went upstream %d times", asked_no);
    CHECK(asked_later > 0, "the name allowed by the update was looked up");
    sandbox_free(sb);

    /* Bad input: a typed error at spawn, before anything runs. */
    sandbox_t *bad = sandbox_strict();
    CHECK_OK(sandbox_egress_allow_domain(bad, "*"));
    const char *t[] = {"/bin/true"};
    sandbox_child_t *c = NULL;
    CHECK_RC(sandbox_spawn(bad, t, 1, &c), SANDBOX_INVALID_CONFIG);
    CHECK_MSG("egress.allow_domain");
    sandbox_free(bad);
    close(up);
    return summary("test_egress");
}
