/*
 * fuzz_pickle.c — fuzz target for modelcard_pickle_load (training_args.bin).
 *
 * Built two ways: with clang -fsanitize=fuzzer as a libFuzzer target (see
 * README.md; optional, needs clang), and with gcc into fuzz_pickle_replay (the
 * ctest driver: seed corpus + deterministic mutations). Besides "no crash,
 * no leak", it checks the reader's promises on every accepted input: the
 * result is a JSON object and no key anywhere contains "token".
 */
#include "modelcard.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_no_token(const json_t *v, int depth)
{
    if (depth > 64)
        abort();
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            if (strcasestr(k, "token")) {
                fprintf(stderr, "fuzz_pickle: key \"%s\" survived\n", k);
                abort();
            }
            check_no_token(x, depth + 1);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) check_no_token(x, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *out = NULL;
    struct hs_err err = {0};
    int r = modelcard_pickle_load(data, size, &out, &err);
    if (r == 0) {
        if (!json_is_object(out))
            abort();
        check_no_token(out, 0);
        json_decref(out);
    } else if (out || err.msg[0] == '\0') {
        abort(); /* a failure always says why and returns nothing */
    }
    return 0;
}
