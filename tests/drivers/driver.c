/* The C surface of the cross-language scenarios (tests/surfaces.rs).
 *
 * Reads scenarios on stdin, one command per line, each argument
 * percent-encoded:
 *
 *   scenario NAME
 *   base strict|new
 *   step SETTER ARG...      (a row of rsandbox-surface's table: steps.h)
 *   argv ARG...
 *   run                     (or: describe)
 *
 * builds each box through the C API, runs it with sandbox_output, and
 * prints one JSON object per scenario: {"scenario", "rc", "message"} when a
 * call failed, else {"scenario", "reason", "exit_code", "signal",
 * "pids_peak", "stdout", "stderr"}; `describe` prints {"scenario", "json"}:
 * the description as sandbox_to_json writes it, nothing run. steps.h, the setter dispatch table, is
 * written by the harness from the same table the setters are generated
 * from, so every generated setter can be a step. */
#define _GNU_SOURCE
#include <sandbox.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A step: a setter, its argument count, and a call converting the
 * arguments from text. */
struct step {
    const char *name;
    size_t nargs;
    sandbox_result_t (*call)(sandbox_t *sb, char **args);
};

/* A comma-separated list of u32 (a U32List argument); `*n` gets its length.
 * The values live until the next call. */
static const uint32_t *u32_list(const char *s, size_t *n) {
    static uint32_t values[64];
    *n = 0;
    while (*s != '\0' && *n < sizeof values / sizeof values[0]) {
        char *end;
        values[(*n)++] = (uint32_t)strtoul(s, &end, 10);
        s = *end == ',' ? end + 1 : end;
        if (end == s && *end != '\0') break;
    }
    return values;
}

#include "steps.h"

#define MAX_ARGS 64

/* Decode %XX escapes in place; a lone % is the empty word. */
static void decode(char *s) {
    char *out = s;
    if (strcmp(s, "%") == 0) {
        s[0] = '\0';
        return;
    }
    for (; *s != '\0'; s++) {
        if (s[0] == '%' && s[1] != '\0' && s[2] != '\0') {
            char hex[3] = {s[1], s[2], '\0'};
            *out++ = (char)strtol(hex, NULL, 16);
            s += 2;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

/* Split a line into space-separated, decoded words. */
static size_t words(char *line, char **w, size_t max) {
    size_t n = 0;
    for (char *tok = strtok(line, " \n"); tok != NULL && n < max; tok = strtok(NULL, " \n")) {
        decode(tok);
        w[n++] = tok;
    }
    return n;
}

/* `len` bytes as a JSON string. */
static void json_string(const char *s, size_t len) {
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_failure(const char *scenario, sandbox_result_t rc, const char *message) {
    printf("{\"scenario\": ");
    json_string(scenario, strlen(scenario));
    printf(", \"rc\": \"%s\", \"message\": ", sandbox_result_name((int)rc));
    json_string(message, strlen(message));
    printf("}\n");
}

static void print_output(const char *scenario, const sandbox_output_t *out) {
    sandbox_outcome_t o;
    const uint8_t *data;
    size_t len;
    sandbox_output_outcome(out, &o);
    printf("{\"scenario\": ");
    json_string(scenario, strlen(scenario));
    printf(", \"reason\": \"%s\"", sandbox_reason_name((int)o.reason));
    if (o.exited)
        printf(", \"exit_code\": %d", o.exit_code);
    else
        printf(", \"signal\": %d", o.signal);
    if (o.pids_peak != SANDBOX_UNKNOWN) printf(", \"pids_peak\": %llu", (unsigned long long)o.pids_peak);
    sandbox_output_stdout(out, &data, &len);
    printf(", \"stdout\": ");
    json_string((const char *)data, len);
    sandbox_output_stderr(out, &data, &len);
    printf(", \"stderr\": ");
    json_string((const char *)data, len);
    printf("}\n");
}

static const struct step *find_step(const char *name) {
    for (size_t i = 0; i < sizeof STEPS / sizeof STEPS[0]; i++)
        if (strcmp(STEPS[i].name, name) == 0) return &STEPS[i];
    return NULL;
}

int main(void) {
    char *line = NULL, *w[MAX_ARGS];
    size_t cap = 0;
    char scenario[256] = "";
    char *argv_store[MAX_ARGS];
    size_t argc = 0;
    sandbox_t *sb = NULL;
    sandbox_result_t failed = SANDBOX_OK;
    char message[4096] = "";

    while (getline(&line, &cap, stdin) > 0) {
        size_t n = words(line, w, MAX_ARGS);
        if (n == 0) continue;
        if (strcmp(w[0], "scenario") == 0 && n == 2) {
            snprintf(scenario, sizeof scenario, "%s", w[1]);
            for (size_t i = 0; i < argc; i++) free(argv_store[i]);
            argc = 0;
            failed = SANDBOX_OK;
            sandbox_free(sb);
            sb = NULL;
        } else if (strcmp(w[0], "base") == 0 && n == 2) {
            sb = strcmp(w[1], "strict") == 0 ? sandbox_strict() : sandbox_new();
        } else if (strcmp(w[0], "step") == 0 && n >= 2) {
            const struct step *s = find_step(w[1]);
            if (s == NULL || s->nargs != n - 2) {
                fprintf(stderr, "driver: no setter %s taking %zu arguments\n", w[1], n - 2);
                return 2;
            }
            if (failed == SANDBOX_OK) {
                failed = s->call(sb, &w[2]);
                if (failed != SANDBOX_OK)
                    snprintf(message, sizeof message, "%s", sandbox_last_error_message());
            }
        } else if (strcmp(w[0], "argv") == 0) {
            for (size_t i = 1; i < n; i++) argv_store[argc++] = strdup(w[i]);
        } else if (strcmp(w[0], "describe") == 0 && sb != NULL) {
            char *json = NULL;
            if (failed == SANDBOX_OK) {
                failed = sandbox_to_json(sb, &json);
                if (failed != SANDBOX_OK)
                    snprintf(message, sizeof message, "%s", sandbox_last_error_message());
            }
            if (failed != SANDBOX_OK) {
                print_failure(scenario, failed, message);
            } else {
                printf("{\"scenario\": ");
                json_string(scenario, strlen(scenario));
                printf(", \"json\": ");
                json_string(json, strlen(json));
                printf("}\n");
            }
            sandbox_string_free(json);
            fflush(stdout);
        } else if (strcmp(w[0], "run") == 0 && sb != NULL) {
            sandbox_output_t *out = NULL;
            if (failed == SANDBOX_OK) {
                failed = sandbox_output(sb, (const char *const *)argv_store, argc, &out);
                if (failed != SANDBOX_OK)
                    snprintf(message, sizeof message, "%s", sandbox_last_error_message());
            }
            if (failed != SANDBOX_OK)
                print_failure(scenario, failed, message);
            else
                print_output(scenario, out);
            sandbox_output_free(out);
            fflush(stdout);
        } else {
            fprintf(stderr, "driver: bad command %s\n", w[0]);
            return 2;
        }
    }
    for (size_t i = 0; i < argc; i++) free(argv_store[i]);
    sandbox_free(sb);
    free(line);
    return 0;
}
