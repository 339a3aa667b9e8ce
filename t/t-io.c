/* t/t-io.c — file formats: JSON, dtypes, safetensors, .npy, atomic file I/O, params save/load.
 *
 * Every malformed input is built in memory and handed to the readers in a buffer of exactly
 * its own length (or a file of exactly that size), so an ASan/valgrind run of this program
 * proves the readers never look past the end. Each failure asserts the status code and a
 * phrase of the message, so a reader that fails for the wrong reason does not pass.
 */
#include "core/dtype.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/npy.h"
#include "core/params.h"
#include "core/safetensors.h"
#include "t/tap.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];

static const char *tpath(const char *name)
{
    static char buf[4][512];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* rc must equal code and the message must contain phrase (both reported on failure). */
static int expect_err(int rc, int code, const char *phrase, const char *label)
{
    int good = rc == code && strstr(sl_errmsg(), phrase) != NULL;
    ok(good, "%s -> %s", label, sl_strerror(code));
    if (good) diag("  %s", sl_errmsg()); /* the log then documents every message */
    else diag("  rc %d (%s), message: %s  [wanted phrase: %s]", rc, sl_strerror(rc), sl_errmsg(), phrase);
    return good;
}

static void write_raw(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        diag("cannot write %s", path);
        return;
    }
    if (n) fwrite(buf, 1, n, f);
    fclose(f);
}

/* Count directory entries whose name starts with '.' (other than . and ..): temp debris. */
static int count_hidden(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* ======================================================================================== */
/* JSON                                                                                     */

/* Parse from a malloc'ed buffer of exactly len bytes (no NUL after it). */
static int json_exact(const char *s, size_t len, sl_json **out)
{
    char *b = malloc(len ? len : 1);
    memcpy(b, s, len);
    int rc = sl_json_parse(b, len, out);
    free(b);
    return rc;
}

static void test_json(void)
{
    struct {
        const char *text;
        const char *why;
    } good[] = {
        {"{}", "empty object"},
        {"[]", "empty array"},
        {" \t\r\n{\"a\" : 1 }\n", "whitespace"},
        {"[1,-0,0.5,-1.5e-3,1E+2,2e-400]", "numbers"},
        {"true", "true"},
        {"null", "null"},
        {"\"\"", "empty string"},
        {"\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", "raw UTF-8"},
        {"{\"a\":{\"b\":[1,{\"c\":null}]},\"d\":false}", "nested"},
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"", "all escapes"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        sl_json *j = NULL;
        int rc = json_exact(good[i].text, strlen(good[i].text), &j);
        ok(rc == 0 && j, "JSON valid: %s", good[i].why);
        if (rc) diag("  %s", sl_errmsg());
        sl_json_free(j);
    }
    /* decoded values */
    sl_json *j = NULL;
    const char *t1 = "{\"s\":\"a\\u00e9\\ud83d\\ude00\\n\",\"n\":-12.5e1,\"b\":true,\"z\":null,\"arr\":[1,2,3]}";
    ok(json_exact(t1, strlen(t1), &j) == 0, "JSON parse object");
    const sl_json *s = sl_json_get(j, "s");
    ok(s && s->type == SL_JSON_STRING && strcmp(s->str, "a\xc3\xa9\xf0\x9f\x98\x80\n") == 0,
       "JSON \\u escapes and surrogate pair decode to UTF-8");
    const sl_json *n = sl_json_get(j, "n");
    ok(n && n->type == SL_JSON_NUMBER && n->number == -125.0 && strcmp(n->str, "-12.5e1") == 0,
       "JSON number keeps value and source text");
    ok(sl_json_get(j, "b")->boolean == 1 && sl_json_get(j, "z")->type == SL_JSON_NULL, "JSON true/null");
    ok(sl_json_get(j, "arr")->n == 3 && sl_json_get(j, "missing") == NULL, "JSON array size, absent key");
    sl_json_free(j);

    /* depth: 64 levels parse, 65 do not */
    char deep[200];
    for (int d = 64; d <= 65; d++) {
        memset(deep, '[', (size_t)d);
        memset(deep + d, ']', (size_t)d);
        j = NULL;
        int rc = json_exact(deep, 2 * (size_t)d, &j);
        if (d == 64) ok(rc == 0, "JSON 64 nested arrays accepted");
        else expect_err(rc, SL_EFORMAT, "deeper than 64", "JSON 65 nested arrays");
        sl_json_free(j);
    }

    struct {
        const char *text;
        size_t len;
        const char *phrase;
        const char *why;
    } bad[] = {
        {"", 0, "end of input", "empty input"},
        {"   ", 3, "end of input", "only whitespace"},
        {"{\"a\":1,}", 0, "object key", "trailing comma in object"},
        {"[1,]", 0, "unexpected character", "trailing comma in array"},
        {"01", 0, "leading zero", "leading zero"},
        {"1.", 0, "after decimal point", "no digit after point"},
        {".5", 0, "unexpected character", "no digit before point"},
        {"+1", 0, "unexpected character", "plus sign"},
        {"-", 0, "invalid number", "lone minus"},
        {"1e", 0, "exponent", "empty exponent"},
        {"NaN", 0, "unexpected character", "NaN"},
        {"-Infinity", 0, "invalid number", "-Infinity"},
        {"1e999", 0, "out of range", "number overflows double"},
        {"\"abc", 0, "unterminated string", "unterminated string"},
        {"\"a\x01\"", 0, "control character", "raw control character"},
        {"\"\\q\"", 0, "invalid escape", "bad escape"},
        {"\"\\u12zz\"", 0, "bad hex digit", "non-hex \\u escape"},
        {"\"\\u12\"", 0, "truncated \\u escape", "short \\u escape"},
        {"\"\\u12", 5, "truncated", "\\u escape cut by the end"},
        {"\"\\ud800\"", 0, "low surrogate", "lone high surrogate"},
        {"\"\\ud800\\u0041\"", 0, "low surrogate", "high surrogate + non-surrogate"},
        {"\"\\udc00\"", 0, "lone low surrogate", "lone low surrogate"},
        {"\"\\u0000\"", 0, "\\u0000", "\\u0000 (C strings)"},
        {"\"\xc3\"", 0, "UTF-8", "truncated UTF-8"},
        {"\"\xc0\xaf\"", 0, "UTF-8", "overlong UTF-8"},
        {"\"\xed\xa0\x80\"", 0, "UTF-8", "UTF-8 encoded surrogate"},
        {"\"\xf4\x90\x80\x80\"", 0, "UTF-8", "UTF-8 above U+10FFFF"},
        {"\"\x80\"", 0, "UTF-8", "stray continuation byte"},
        {"{\"a\":1}x", 0, "trailing characters", "trailing garbage"},
        {"{\"a\":1} {}", 0, "trailing characters", "two documents"},
        {"{\"a\" 1}", 0, "':' expected", "missing colon"},
        {"{1:2}", 0, "object key", "non-string key"},
        {"{\"a\":1,\"a\":2}", 0, "duplicate key \"a\"", "duplicate key"},
        {"tru", 0, "invalid literal", "truncated literal"},
        {"nul", 0, "invalid literal", "truncated null"},
        {"[1 2]", 0, "',' or ']'", "missing comma"},
        {"/* c */ 1", 0, "unexpected character", "comment"},
        {"'a'", 0, "unexpected character", "single quotes"},
        {"\xef\xbb\xbf{}", 0, "unexpected character", "byte order mark"},
        {"[1,2]", 3, "end of input", "length cuts the array (no over-read)"},
        {"{\"key\":\"value\"}", 10, "unterminated string", "length cuts a string (no over-read)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = bad[i].len ? bad[i].len : strlen(bad[i].text);
        j = NULL;
        char label[128];
        snprintf(label, sizeof label, "JSON invalid: %s", bad[i].why);
        expect_err(json_exact(bad[i].text, len, &j), SL_EFORMAT, bad[i].phrase, label);
        ok(j == NULL, "  no tree is returned on failure");
        sl_json_free(j);
    }
    /* the error message carries the byte offset */
    j = NULL;
    json_exact("[1, x]", 6, &j);
    ok(strstr(sl_errmsg(), "byte 4") != NULL, "JSON error names the byte offset (%s)", sl_errmsg());

    /* sl_json_int: exact from the text */
    struct {
        const char *text;
        int64_t lo, hi;
        int ok;
        int64_t v;
    } ints[] = {
        {"9007199254740993", 0, INT64_MAX, 1, 9007199254740993LL}, /* not a double */
        {"9223372036854775807", 0, INT64_MAX, 1, INT64_MAX},
        {"-9223372036854775808", INT64_MIN, 0, 1, INT64_MIN},
        {"9223372036854775808", 0, INT64_MAX, 0, 0},
        {"-9223372036854775809", INT64_MIN, 0, 0, 0},
        {"1.0", 0, 10, 1, 1},
        {"2.5e1", 0, 100, 1, 25},
        {"1e2", 0, 1000, 1, 100},
        {"0.0e5", 0, 0, 1, 0},
        {"-0", 0, 0, 1, 0},
        {"120e-1", 0, 100, 1, 12},
        {"1.5", 0, 10, 0, 0},
        {"1e-1", 0, 10, 0, 0},
        {"1e30", 0, INT64_MAX, 0, 0},
        {"-1", 0, 10, 0, 0},
        {"11", 0, 10, 0, 0},
        {"1.00000000000000000000000000000000000000000", 0, 10, 1, 1},
        {"1.00000000000000000000000000000000000000001", 0, 10, 0, 0},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        j = NULL;
        int64_t v = -77;
        int rc = json_exact(ints[i].text, strlen(ints[i].text), &j);
        if (!rc) rc = sl_json_int(j, ints[i].lo, ints[i].hi, &v);
        if (ints[i].ok) ok(rc == 0 && v == ints[i].v, "sl_json_int(%s) = %lld", ints[i].text, (long long)ints[i].v);
        else
            ok(rc == SL_EFORMAT, "sl_json_int(%s) in [%lld, %lld] refused (%s)", ints[i].text, (long long)ints[i].lo,
               (long long)ints[i].hi, sl_errmsg());
        sl_json_free(j);
    }
    j = NULL;
    json_exact("\"5\"", 3, &j);
    int64_t v;
    ok(sl_json_int(j, 0, 10, &v) == SL_EFORMAT, "sl_json_int on a string refused");
    sl_json_free(j);

    /* sl_json_quote: escapes, snprintf semantics, round trip */
    const char *raw = "a\"b\\c\n\t\x01 caf\xc3\xa9";
    char q[64];
    size_t qn = sl_json_quote(q, sizeof q, raw);
    ok(strcmp(q, "\"a\\\"b\\\\c\\n\\t\\u0001 caf\xc3\xa9\"") == 0 && qn == strlen(q), "sl_json_quote escapes (%s)", q);
    char small[5];
    size_t sn = sl_json_quote(small, sizeof small, raw);
    ok(sn == qn && strlen(small) == 4 && memcmp(small, q, 4) == 0, "sl_json_quote truncates like snprintf");
    ok(sl_json_quote(NULL, 0, "xy") == 4, "sl_json_quote(NULL, 0) measures");
    j = NULL;
    ok(json_exact(q, qn, &j) == 0 && strcmp(j->str, raw) == 0, "sl_json_quote output parses back to the input");
    sl_json_free(j);
}

/* ======================================================================================== */
/* dtypes                                                                                   */

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void test_dtype(void)
{
    static const size_t sizes[SL_DT_COUNT] = {4, 8, 2, 2, 1, 2, 4, 8, 1, 1};
    int good = 1;
    for (int t = 0; t < SL_DT_COUNT; t++) {
        sl_dtype back;
        good &= sl_dtype_size((sl_dtype)t) == sizes[t];
        good &= sl_dtype_from_name(sl_dtype_name((sl_dtype)t), &back) == 0 && back == (sl_dtype)t;
    }
    ok(good, "dtype sizes and names round trip");
    sl_dtype dt;
    expect_err(sl_dtype_from_name("F8", &dt), SL_EFORMAT, "unknown dtype \"F8\"", "unknown dtype name");
    expect_err(sl_dtype_from_name("f32", &dt), SL_EFORMAT, "unknown dtype", "dtype names are case-sensitive");

    /* F16 decode, including subnormals, signed zero, inf, nan */
    ok(sl_f16_to_f32(0x3C00) == 1.0f && sl_f16_to_f32(0xC000) == -2.0f && sl_f16_to_f32(0x7BFF) == 65504.0f,
       "F16 decode 1, -2, 65504");
    ok(sl_f16_to_f32(0x0400) == 0x1p-14f && sl_f16_to_f32(0x0001) == 0x1p-24f && sl_f16_to_f32(0x03FF) == 1023 * 0x1p-24f &&
           sl_f16_to_f32(0x8001) == -0x1p-24f,
       "F16 decode subnormals and smallest normal");
    ok(isinf(sl_f16_to_f32(0x7C00)) && sl_f16_to_f32(0x7C00) > 0 && isinf(sl_f16_to_f32(0xFC00)) && sl_f16_to_f32(0xFC00) < 0 &&
           isnan(sl_f16_to_f32(0x7E00)) && isnan(sl_f16_to_f32(0x7C01)),
       "F16 decode inf, -inf, nan");
    ok(sl_f16_to_f32(0x8000) == 0.0f && signbit(sl_f16_to_f32(0x8000)), "F16 decode -0");
    ok(sl_bf16_to_f32(0x3F80) == 1.0f && sl_bf16_to_f32(0xC040) == -3.0f && sl_bf16_to_f32(0x0001) == 0x1p-133f &&
           isinf(sl_bf16_to_f32(0x7F80)) && isnan(sl_bf16_to_f32(0x7FC0)),
       "BF16 decode 1, -3, subnormal, inf, nan");

    /* encoders: every non-NaN bit pattern survives decode->encode */
    int rt16 = 1, rtb = 1;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = sl_f16_to_f32((uint16_t)h);
        if (isnan(f)) rt16 &= isnan(sl_f16_to_f32(sl_f32_to_f16(f)));
        else rt16 &= sl_f32_to_f16(f) == h;
        float g = sl_bf16_to_f32((uint16_t)h);
        if (isnan(g)) rtb &= isnan(sl_bf16_to_f32(sl_f32_to_bf16(g)));
        else rtb &= sl_f32_to_bf16(g) == h;
    }
    ok(rt16, "F16 encode(decode(h)) == h for all 65536 patterns");
    ok(rtb, "BF16 encode(decode(h)) == h for all 65536 patterns");
    ok(sl_f32_to_f16(1.0f + 0x1p-11f) == 0x3C00 && sl_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3C02,
       "F16 encode rounds ties to even");
    ok(sl_f32_to_f16(65519.0f) == 0x7BFF && sl_f32_to_f16(65520.0f) == 0x7C00 && sl_f32_to_f16(1e10f) == 0x7C00,
       "F16 encode overflow to inf at the rounding boundary");
    ok(sl_f32_to_f16(0x1p-25f) == 0 && sl_f32_to_f16(1.5f * 0x1p-25f) == 1 && sl_f32_to_f16(3 * 0x1p-25f) == 2 &&
           sl_f32_to_f16(0x1p-30f) == 0 && sl_f32_to_f16(-0x1p-30f) == 0x8000,
       "F16 encode subnormal rounding and underflow to signed zero");
    ok(sl_f32_to_f16(1023.5f * 0x1p-24f) == 0x0400, "F16 encode subnormal carries into smallest normal");
    ok(sl_f32_to_bf16(1.0f + 0x1p-8f) == 0x3F80 && sl_f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3F82 &&
           sl_f32_to_bf16(3.4e38f) == 0x7F80,
       "BF16 encode rounds ties to even and overflows to inf");

    /* conversion of every type, from an unaligned source */
    unsigned char buf[1 + 8 * 4];
    float out[4];
    {
        double d[3] = {0.5, -1e-3, 3e38};
        memcpy(buf + 1, d, sizeof d);
        ok(sl_dtype_to_f32(SL_DT_F64, buf + 1, out, 3, 1) == 0 && out[0] == 0.5f && out[1] == (float)-1e-3 &&
               out[2] == (float)3e38,
           "F64 -> float from an unaligned source");
        int64_t i[3] = {-5, INT64_MAX, 1 << 24};
        memcpy(buf + 1, i, sizeof i);
        ok(sl_dtype_to_f32(SL_DT_I64, buf + 1, out, 3, 1) == 0 && out[0] == -5.0f && out[1] == 0x1p63f && out[2] == 16777216.0f,
           "I64 -> float");
        int32_t i32[2] = {-7, 123456};
        memcpy(buf + 1, i32, sizeof i32);
        ok(sl_dtype_to_f32(SL_DT_I32, buf + 1, out, 2, 1) == 0 && out[0] == -7.0f && out[1] == 123456.0f, "I32 -> float");
        int16_t i16[2] = {-32768, 32767};
        memcpy(buf + 1, i16, sizeof i16);
        ok(sl_dtype_to_f32(SL_DT_I16, buf + 1, out, 2, 1) == 0 && out[0] == -32768.0f && out[1] == 32767.0f, "I16 -> float");
        unsigned char b[4] = {0x80, 0xFF, 0x00, 0x02};
        ok(sl_dtype_to_f32(SL_DT_I8, b, out, 2, 1) == 0 && out[0] == -128.0f && out[1] == -1.0f, "I8 -> float");
        ok(sl_dtype_to_f32(SL_DT_U8, b, out, 2, 1) == 0 && out[0] == 128.0f && out[1] == 255.0f, "U8 -> float");
        ok(sl_dtype_to_f32(SL_DT_BOOL, b + 2, out, 2, 1) == 0 && out[0] == 0.0f && out[1] == 1.0f, "BOOL -> float");
        uint16_t h[2] = {0x3555, 0x0001};
        memcpy(buf + 1, h, sizeof h);
        ok(sl_dtype_to_f32(SL_DT_F16, buf + 1, out, 2, 1) == 0 && fabsf(out[0] - 0.333251953f) < 1e-9f && out[1] == 0x1p-24f,
           "F16 -> float");
        uint16_t bf[2] = {0x3EAB, 0x8000};
        memcpy(buf + 1, bf, sizeof bf);
        ok(sl_dtype_to_f32(SL_DT_BF16, buf + 1, out, 2, 1) == 0 && out[0] == 0.333984375f && fbits(out[1]) == 0x80000000u,
           "BF16 -> float (and -0)");
    }
    float bad[3] = {1.0f, NAN, 2.0f};
    expect_err(sl_dtype_to_f32(SL_DT_F32, bad, out, 3, 1), SL_ENAN, "element 1", "F32 NaN refused with check_finite");
    ok(sl_dtype_to_f32(SL_DT_F32, bad, out, 3, 0) == 0 && isnan(out[1]), "F32 NaN passes without check_finite");
    double big = 1e300;
    expect_err(sl_dtype_to_f32(SL_DT_F64, &big, out, 1, 1), SL_ENAN, "out of float32 range", "F64 1e300 overflows float");
    uint16_t hinf = 0x7C00;
    expect_err(sl_dtype_to_f32(SL_DT_F16, &hinf, out, 1, 1), SL_ENAN, "inf", "F16 inf refused");
}

/* ======================================================================================== */
/* safetensors                                                                              */

/* A file image: 8-byte length (declared, or the real one when declared == UINT64_MAX), the
 * header text, then data bytes. */
static size_t st_image(unsigned char *out, size_t cap, uint64_t declared, const char *header, const void *data, size_t data_n)
{
    size_t hn = strlen(header);
    uint64_t L = declared == UINT64_MAX ? hn : declared;
    if (8 + hn + data_n > cap) return 0;
    for (int k = 0; k < 8; k++) out[k] = (unsigned char)(L >> (8 * k));
    memcpy(out + 8, header, hn);
    if (data_n) memcpy(out + 8 + hn, data, data_n);
    return 8 + hn + data_n;
}

/* Write the image to a file of exactly that size and read it back. */
static int st_try(const unsigned char *img, size_t n, sl_safetensors **st)
{
    const char *p = tpath("bad.safetensors");
    write_raw(p, img, n);
    *st = NULL;
    return sl_safetensors_read(p, st);
}

static void test_safetensors_roundtrip(void)
{
    float f32[6] = {1.5f, -2.0f, 0.0f, 3.25f, 1e-30f, -7.0f};
    double f64[3] = {M_PI, -1e300, 5e-324};
    int32_t i32[4] = {INT32_MIN, -1, 0, INT32_MAX};
    int64_t i64[2] = {INT64_MIN, 9007199254740993LL};
    uint16_t f16[3] = {sl_f32_to_f16(0.5f), sl_f32_to_f16(-65504.0f), 0x0001};
    uint16_t bf16[2] = {sl_f32_to_bf16(-3.0f), sl_f32_to_bf16(1e30f)};
    uint8_t u8[3] = {0, 7, 255};
    uint8_t bl[2] = {1, 0};
    int8_t i8[2] = {-128, 127};
    int16_t i16[2] = {-300, 300};
    float scalar = 42.0f;
    int64_t s23[2] = {2, 3}, s3[1] = {3}, s4[1] = {4}, s2[1] = {2}, s03[2] = {0, 3};

    sl_st_writer *w = sl_st_writer_new();
    int rc = 0;
    rc |= sl_st_writer_meta(w, "format", "pt");
    rc |= sl_st_writer_meta(w, "note", "quote \" backslash \\ newline \n caf\xc3\xa9");
    rc |= sl_st_writer_add(w, "z.f32", SL_DT_F32, 2, s23, f32); /* not alphabetical: insertion order */
    rc |= sl_st_writer_add(w, "a.f64", SL_DT_F64, 1, s3, f64);
    rc |= sl_st_writer_add(w, "i32", SL_DT_I32, 1, s4, i32);
    rc |= sl_st_writer_add(w, "i64", SL_DT_I64, 1, s2, i64);
    rc |= sl_st_writer_add(w, "f16", SL_DT_F16, 1, s3, f16);
    rc |= sl_st_writer_add(w, "bf16", SL_DT_BF16, 1, s2, bf16);
    rc |= sl_st_writer_add(w, "u8", SL_DT_U8, 1, s3, u8);
    rc |= sl_st_writer_add(w, "bool", SL_DT_BOOL, 1, s2, bl);
    rc |= sl_st_writer_add(w, "i8", SL_DT_I8, 1, s2, i8);
    rc |= sl_st_writer_add(w, "i16", SL_DT_I16, 1, s2, i16);
    rc |= sl_st_writer_add(w, "scalar", SL_DT_F32, 0, NULL, &scalar);
    rc |= sl_st_writer_add(w, "empty", SL_DT_F32, 2, s03, NULL);
    rc |= sl_st_writer_add(w, "weird \"name\"\n\xc3\xa9", SL_DT_U8, 1, s2, u8);
    ok(rc == 0, "safetensors writer accepts tensors of every dtype (%s)", rc ? sl_errmsg() : "ok");
    f32[0] = 999.0f; /* data was copied at add time */
    expect_err(sl_st_writer_add(w, "i8", SL_DT_I8, 1, s2, i8), SL_EINVAL, "duplicate tensor name 'i8'", "writer: duplicate name");
    expect_err(sl_st_writer_add(w, "__metadata__", SL_DT_I8, 1, s2, i8), SL_EINVAL, "reserved", "writer: reserved name");
    int64_t neg[1] = {-1};
    expect_err(sl_st_writer_add(w, "neg", SL_DT_I8, 1, neg, i8), SL_EINVAL, "negative", "writer: negative dimension");
    expect_err(sl_st_writer_meta(w, "format", "x"), SL_EINVAL, "duplicate metadata key", "writer: duplicate meta key");
    const char *p = tpath("rt.safetensors");
    ok(sl_st_writer_write(w, p) == 0, "safetensors write");
    sl_st_writer_free(w);
    f32[0] = 1.5f;

    /* header length: multiple of 8, padded with spaces */
    void *raw;
    size_t rn;
    sl_read_file(p, 1 << 20, &raw, &rn);
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--) hl = (hl << 8) | ((unsigned char *)raw)[k];
    ok(hl % 8 == 0 && hl + 8 <= rn && ((char *)raw)[8] == '{', "header length %llu is a multiple of 8", (unsigned long long)hl);
    ok(strncmp((char *)raw + 8, "{\"__metadata__\":", 16) == 0, "__metadata__ comes first in the header");
    free(raw);

    sl_safetensors *st = NULL;
    rc = sl_safetensors_read(p, &st);
    ok(rc == 0, "safetensors read back (%s)", rc ? sl_errmsg() : "ok");
    if (rc) return;
    ok(st->n == 13 && strcmp(st->t[0].name, "z.f32") == 0 && strcmp(st->t[1].name, "a.f64") == 0,
       "tensors come back in insertion order");
    size_t pos = 0;
    int contiguous = 1;
    for (size_t i = 0; i < st->n; i++) {
        contiguous &= st->t[i].begin == pos;
        pos = st->t[i].end;
    }
    ok(contiguous && pos == st->data_size, "data laid out contiguously in insertion order");
    ok(st->n_meta == 2 && strcmp(sl_safetensors_meta(st, "format"), "pt") == 0 &&
           strcmp(sl_safetensors_meta(st, "note"), "quote \" backslash \\ newline \n caf\xc3\xa9") == 0 &&
           sl_safetensors_meta(st, "nope") == NULL,
       "metadata round trip (with escapes)");
    struct {
        const char *name;
        sl_dtype dt;
        int ndim;
        int64_t d0, d1;
        const void *data;
        size_t bytes;
    } want[] = {
        {"z.f32", SL_DT_F32, 2, 2, 3, f32, sizeof f32},
        {"a.f64", SL_DT_F64, 1, 3, 0, f64, sizeof f64},
        {"i32", SL_DT_I32, 1, 4, 0, i32, sizeof i32},
        {"i64", SL_DT_I64, 1, 2, 0, i64, sizeof i64},
        {"f16", SL_DT_F16, 1, 3, 0, f16, sizeof f16},
        {"bf16", SL_DT_BF16, 1, 2, 0, bf16, sizeof bf16},
        {"u8", SL_DT_U8, 1, 3, 0, u8, sizeof u8},
        {"bool", SL_DT_BOOL, 1, 2, 0, bl, sizeof bl},
        {"i8", SL_DT_I8, 1, 2, 0, i8, sizeof i8},
        {"i16", SL_DT_I16, 1, 2, 0, i16, sizeof i16},
        {"scalar", SL_DT_F32, 0, 0, 0, &scalar, 4},
        {"empty", SL_DT_F32, 2, 0, 3, NULL, 0},
        {"weird \"name\"\n\xc3\xa9", SL_DT_U8, 1, 2, 0, u8, 2},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const sl_st_tensor *t = sl_safetensors_find(st, want[i].name);
        int good = t && t->dtype == want[i].dt && t->ndim == want[i].ndim && (want[i].ndim < 1 || t->shape[0] == want[i].d0) &&
                   (want[i].ndim < 2 || t->shape[1] == want[i].d1) && t->end - t->begin == want[i].bytes &&
                   (!want[i].bytes || memcmp(st->data + t->begin, want[i].data, want[i].bytes) == 0);
        ok(good, "round trip %s: dtype, shape and bytes exact", sl_dtype_name(want[i].dt));
    }
    ok(sl_safetensors_find(st, "scalar")->numel == 1 && sl_safetensors_find(st, "empty")->numel == 0,
       "0-d tensor has 1 element, (0, 3) has none");
    float o[6];
    ok(sl_safetensors_get_f32(st, sl_safetensors_find(st, "z.f32"), o, 6) == 0 && memcmp(o, f32, sizeof f32) == 0,
       "get_f32 on F32");
    ok(sl_safetensors_get_f32(st, sl_safetensors_find(st, "f16"), o, 3) == 0 && o[0] == 0.5f && o[1] == -65504.0f &&
           o[2] == 0x1p-24f,
       "get_f32 converts F16 (incl. subnormal)");
    ok(sl_safetensors_get_f32(st, sl_safetensors_find(st, "bf16"), o, 2) == 0 && o[0] == -3.0f &&
           fabsf(o[1] - 1e30f) / 1e30f < 4e-3f,
       "get_f32 converts BF16");
    expect_err(sl_safetensors_get_f32(st, sl_safetensors_find(st, "a.f64"), o, 3), SL_ENAN, "'a.f64'",
               "get_f32 refuses F64 that overflows float (names the tensor)");
    expect_err(sl_safetensors_get_f32(st, sl_safetensors_find(st, "i32"), o, 4), SL_EFORMAT, "not a float type",
               "get_f32 refuses an integer tensor");
    expect_err(sl_safetensors_get_f32(st, sl_safetensors_find(st, "z.f32"), o, 5), SL_ESHAPE, "6 elements",
               "get_f32 refuses a wrong element count");
    sl_safetensors_free(st);

    /* parse from memory (copies the buffer) */
    unsigned char img[256];
    unsigned char d8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    size_t n = st_image(img, sizeof img, UINT64_MAX, "{\"x\":{\"dtype\":\"I16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", d8, 8);
    st = NULL;
    ok(sl_safetensors_parse(img, n, &st) == 0 && st->n == 1 && st->n_meta == 0 && st->data_size == 8 &&
           memcmp(st->data, d8, 8) == 0,
       "sl_safetensors_parse from memory, unpadded header, no metadata");
    sl_safetensors_free(st);
}

static void test_safetensors_malformed(void)
{
    unsigned char img[4096] = {0};
    unsigned char data[64];
    for (int i = 0; i < 64; i++) data[i] = (unsigned char)i;
    sl_safetensors *st;
    size_t n;
#define T(name, dt, shape, b, e) "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"
    struct {
        const char *header;
        size_t data_n;
        uint64_t declared;
        const char *phrase;
        const char *rule;
    } cases[] = {
        {"{" T("w", "F32", "[2]", 0, 8) "}", 8, 1000, "exceeds the file size", "header length > file size"},
        {"{" T("w", "F32", "[2]", 0, 8) "}", 8, 200000000, "100 MB", "header length > 100 MB"},
        {"", 0, 0, "header length is 0", "header length 0"},
        {"{not json}", 0, UINT64_MAX, "header: JSON: object key", "header not JSON"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, UINT64_MAX,
         "header: JSON:", "header JSON cut short"},
        {"{\"w\":\"\xff\"}", 0, UINT64_MAX, "UTF-8", "header with invalid UTF-8"},
        {"[1,2]", 0, UINT64_MAX, "not a JSON object", "header is an array"},
        {"{" T("w", "F8", "[2]", 0, 8) "}", 8, UINT64_MAX, "tensor 'w': unknown dtype \"F8\"", "unknown dtype"},
        {"{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, UINT64_MAX, "tensor 'w': missing field \"shape\"",
         "missing shape"},
        {"{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, UINT64_MAX, "tensor 'w': missing field \"dtype\"", "missing dtype"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, UINT64_MAX, "tensor 'w': missing field \"data_offsets\"",
         "missing data_offsets"},
        {"{\"w\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, UINT64_MAX, "\"dtype\" is not a string",
         "dtype not a string"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8, UINT64_MAX, "\"shape\" is not an array",
         "shape not an array"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8, UINT64_MAX, "[begin, end]",
         "data_offsets of 3 entries"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{\"b\":0}}}", 8, UINT64_MAX, "[begin, end]",
         "data_offsets an object"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\"0\",8]}}", 8, UINT64_MAX,
         "tensor 'w': data_offsets must be non-negative integers", "data_offsets string entry"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,8]}}", 8, UINT64_MAX, "non-negative",
         "negative data_offsets"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", 8, UINT64_MAX,
         "tensor 'w': unknown field \"extra\"", "unknown field"},
        {"{\"w\":[1]}", 0, UINT64_MAX, "tensor 'w': entry is not a JSON object", "entry not an object"},
        {"{" T("w", "F32", "[-1]", 0, 0) "}", 0, UINT64_MAX, "tensor 'w': shape[0] must be a non-negative integer",
         "negative shape entry"},
        {"{" T("w", "F32", "[1.5]", 0, 0) "}", 0, UINT64_MAX, "shape[0] must be a non-negative integer",
         "non-integer shape entry"},
        {"{" T("w", "F32", "[true]", 0, 0) "}", 0, UINT64_MAX, "shape[0] must be a non-negative integer", "boolean shape entry"},
        {"{" T("w", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4, UINT64_MAX, "9 dimensions", "more than 8 dimensions"},
        {"{" T("w", "F32", "[4294967296,4294967296,16]", 0, 0) "}", 0, UINT64_MAX,
         "tensor 'w': shape [4294967296, 4294967296, 16] overflows", "shape product overflow"},
        {"{" T("w", "F64", "[2305843009213693952]", 0, 0) "}", 0, UINT64_MAX, "overflows", "numel * elemsize overflow"},
        {"{" T("w", "F32", "[3]", 0, 8) "}", 8, UINT64_MAX, "tensor 'w': data_offsets span 8 bytes but F32 [3] needs 12",
         "size != numel * elemsize"},
        {"{" T("w", "F32", "[0]", 8, 0) "}", 8, UINT64_MAX, "tensor 'w': data_offsets begin 8 > end 0", "begin > end"},
        {"{" T("w", "F32", "[4]", 0, 16) "}", 8, UINT64_MAX, "tensor 'w': data_offsets end 16 is beyond the data block (8 bytes)",
         "end beyond data block"},
        {"{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 4, 12) "}", 12, UINT64_MAX,
         "tensor 'b' (bytes 4..12) overlaps tensor 'a'", "overlapping tensors"},
        {"{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 0, 8) "}", 8, UINT64_MAX, "overlaps",
         "two tensors on the same bytes"},
        {"{" T("a", "F32", "[1]", 0, 4) "," T("b", "F32", "[1]", 8, 12) "}", 12, UINT64_MAX,
         "gap of 4 unused bytes in the data block before tensor 'b'", "gap between tensors"},
        {"{" T("b", "F32", "[1]", 4, 8) "}", 8, UINT64_MAX, "gap of 4 unused bytes", "gap at the start"},
        {"{" T("a", "F32", "[1]", 0, 4) "}", 8, UINT64_MAX, "4 trailing bytes", "trailing bytes after the last tensor"},
        {"{}", 8, UINT64_MAX, "8 trailing bytes", "no tensors but data"},
        {"{" T("a", "F32", "[1]", 0, 4) "," T("a", "F32", "[1]", 4, 8) "}", 8, UINT64_MAX, "header: JSON: duplicate key \"a\"",
         "duplicate tensor names"},
        {"{\"__metadata__\":{\"k\":1}," T("a", "F32", "[1]", 0, 4) "}", 4, UINT64_MAX,
         "\"__metadata__\" value for key 'k' is not a string", "non-string metadata value"},
        {"{\"__metadata__\":{\"k\":null}}", 0, UINT64_MAX, "value for key 'k' is not a string", "null metadata value"},
        {"{\"__metadata__\":[\"k\"]}", 0, UINT64_MAX, "\"__metadata__\" is not a JSON object", "metadata not an object"},
    };
#undef T
    /* the three size rules that need no header */
    st = NULL;
    expect_err(st_try(img, 0, &st), SL_EFORMAT, "empty file", "safetensors: empty file");
    ok(st == NULL, "  nothing returned");
    expect_err(st_try((const unsigned char *)"\x08\0\0\0\0", 5, &st), SL_EFORMAT, "shorter than the 8-byte",
               "safetensors: 5-byte file");
    ok(strstr(sl_errmsg(), "bad.safetensors") != NULL, "  the message names the file (%s)", sl_errmsg());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        n = st_image(img, sizeof img, cases[i].declared, cases[i].header, data, cases[i].data_n);
        char label[160];
        snprintf(label, sizeof label, "safetensors: %s", cases[i].rule);
        st = NULL;
        expect_err(st_try(img, n, &st), SL_EFORMAT, cases[i].phrase, label);
        sl_safetensors_free(st);
        /* the same bytes from memory, in a buffer of exactly n bytes */
        unsigned char *exact = malloc(n ? n : 1);
        memcpy(exact, img, n);
        st = NULL;
        int rc = sl_safetensors_parse(exact, n, &st);
        ok(rc == SL_EFORMAT && st == NULL, "  same from memory");
        free(exact);
        sl_safetensors_free(st);
    }

    /* every truncation of a valid file fails cleanly; every single-byte corruption of the
     * header either parses or fails with SL_EFORMAT (ASan checks the "cleanly") */
    const char *good = "{\"__metadata__\":{\"a\":\"b\"},\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                       "\"y\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[16,22]}}";
    n = st_image(img, sizeof img, UINT64_MAX, good, data, 22);
    st = NULL;
    ok(sl_safetensors_parse(img, n, &st) == 0, "the fuzz seed file is valid");
    sl_safetensors_free(st);
    int trunc_ok = 1;
    for (size_t cut = 0; cut < n; cut++) {
        unsigned char *b = malloc(cut ? cut : 1);
        memcpy(b, img, cut);
        st = NULL;
        trunc_ok &= sl_safetensors_parse(b, cut, &st) == SL_EFORMAT && st == NULL;
        free(b);
    }
    ok(trunc_ok, "all %zu truncations of a valid file are refused", n);
    int fuzz_ok = 1, accepted = 0;
    uint32_t seed = 12345;
    for (int it = 0; it < 3000; it++) {
        unsigned char *b = malloc(n);
        memcpy(b, img, n);
        seed = seed * 1664525u + 1013904223u;
        size_t at = (seed >> 8) % n;
        seed = seed * 1664525u + 1013904223u;
        b[at] = (unsigned char)(seed >> 24);
        st = NULL;
        int rc = sl_safetensors_parse(b, n, &st);
        fuzz_ok &= rc == SL_OK || rc == SL_EFORMAT;
        accepted += rc == SL_OK;
        sl_safetensors_free(st);
        free(b);
    }
    ok(fuzz_ok, "3000 one-byte corruptions: each parsed or refused with SL_EFORMAT (%d parsed)", accepted);
    expect_err(sl_safetensors_read(tpath("does-not-exist.safetensors"), &st), SL_EIO, "No such file",
               "safetensors: missing file");
}

/* ======================================================================================== */
/* .npy                                                                                     */

/* A .npy image with a given version (1..3), header dict text and data. */
static size_t npy_image(unsigned char *out, size_t cap, int major, const char *dict, size_t declared_extra, const void *data,
                        size_t data_n)
{
    size_t dn = strlen(dict), pre = major == 1 ? 10 : 12;
    if (pre + dn + data_n > cap) return 0;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    size_t hl = dn + declared_extra;
    for (size_t k = 0; k < pre - 8; k++) out[8 + k] = (unsigned char)(hl >> (8 * k));
    memcpy(out + pre, dict, dn);
    if (data_n) memcpy(out + pre + dn, data, data_n);
    return pre + dn + data_n;
}

static int npy_exact(const unsigned char *img, size_t n, sl_npy *a)
{
    unsigned char *b = malloc(n ? n : 1);
    memcpy(b, img, n);
    int rc = sl_npy_parse(b, n, a);
    free(b);
    return rc;
}

static void test_npy(void)
{
    unsigned char raw[6 * 8];
    for (int i = 0; i < 48; i++) raw[i] = (unsigned char)(i * 37 + 1);
    uint8_t bools[6] = {1, 0, 1, 1, 0, 0};
    struct {
        sl_dtype dt;
        const char *descr;
    } types[] = {
        {SL_DT_F32, "<f4"}, {SL_DT_F64, "<f8"}, {SL_DT_F16, "<f2"}, {SL_DT_I8, "|i1"},   {SL_DT_I16, "<i2"},
        {SL_DT_I32, "<i4"}, {SL_DT_I64, "<i8"}, {SL_DT_U8, "|u1"},  {SL_DT_BOOL, "|b1"},
    };
    int64_t shape[2] = {2, 3};
    const char *p = tpath("a.npy");
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const void *src = types[i].dt == SL_DT_BOOL ? (const void *)bools : raw;
        size_t bytes = 6 * sl_dtype_size(types[i].dt);
        int rc = sl_npy_write(p, types[i].dt, 2, shape, src);
        sl_npy a;
        int rr = sl_npy_read(p, &a);
        ok(rc == 0 && rr == 0 && a.dtype == types[i].dt && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 && a.numel == 6 &&
               memcmp(a.data, src, bytes) == 0,
           ".npy round trip %s", types[i].descr);
        sl_npy_free(&a);
        /* header as numpy writes it, data at a multiple of 64 */
        void *buf;
        size_t n;
        sl_read_file(p, 1 << 20, &buf, &n);
        char expect[128];
        snprintf(expect, sizeof expect, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 3), }", types[i].descr);
        size_t hl = n >= 10 ? (size_t)((unsigned char *)buf)[8] | (size_t)((unsigned char *)buf)[9] << 8 : 0;
        ok(n >= 10 && ((unsigned char *)buf)[6] == 1 && (10 + hl) % 64 == 0 && n == 10 + hl + bytes &&
               memcmp((char *)buf + 10, expect, strlen(expect)) == 0 && ((char *)buf)[10 + hl - 1] == '\n',
           "  v1.0 header \"%s\", space-padded, data at a multiple of 64", expect);
        free(buf);
    }
    /* 1-d, 0-d and empty arrays */
    float f5[5] = {1, 2, 3, 4, 5}, s0 = 7.5f;
    int64_t d5[1] = {5}, d04[2] = {0, 4};
    sl_npy a;
    ok(sl_npy_write(p, SL_DT_F32, 1, d5, f5) == 0 && sl_npy_read(p, &a) == 0 && a.ndim == 1 && a.shape[0] == 5 &&
           memcmp(a.data, f5, 20) == 0,
       ".npy 1-d shape (5,)");
    sl_npy_free(&a);
    void *buf;
    size_t n;
    sl_read_file(p, 1 << 20, &buf, &n);
    ok(strstr((char *)buf + 10, "'shape': (5,), }") != NULL, "  1-tuple written as (5,)");
    free(buf);
    ok(sl_npy_write(p, SL_DT_F32, 0, NULL, &s0) == 0 && sl_npy_read(p, &a) == 0 && a.ndim == 0 && a.numel == 1 &&
           *(float *)a.data == 7.5f,
       ".npy 0-d array, shape ()");
    sl_npy_free(&a);
    ok(sl_npy_write(p, SL_DT_F64, 2, d04, NULL) == 0 && sl_npy_read(p, &a) == 0 && a.ndim == 2 && a.numel == 0 &&
           a.shape[0] == 0 && a.shape[1] == 4,
       ".npy empty array (0, 4)");
    sl_npy_free(&a);
    uint16_t bfd[1] = {0};
    expect_err(sl_npy_write(p, SL_DT_BF16, 1, d5, bfd), SL_EUNSUPPORTED, "BF16", ".npy write refuses BF16");

    /* hand-built headers: v2.0 and v3.0 are read, odd but valid spellings accepted */
    unsigned char img[1024];
    float two[2] = {1.25f, -2.5f};
    struct {
        int major;
        const char *dict;
        const char *why;
    } okh[] = {
        {2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", "format 2.0"},
        {3, "{\"descr\": \"<f4\", \"shape\": (1, 2), \"fortran_order\": False}   \n",
         "format 3.0, other key order, double quotes"},
        {1, "{'descr':'<f4','fortran_order':False,'shape':(2L,)}", "no spaces, Python 2 long suffix, no newline"},
    };
    for (size_t i = 0; i < sizeof okh / sizeof okh[0]; i++) {
        n = npy_image(img, sizeof img, okh[i].major, okh[i].dict, 0, two, 8);
        int rc = npy_exact(img, n, &a);
        ok(rc == 0 && a.numel == 2 && memcmp(a.data, two, 8) == 0, ".npy header accepted: %s", okh[i].why);
        if (rc) diag("  %s", sl_errmsg());
        sl_npy_free(&a);
    }

    /* malformed */
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n";
    struct {
        int major;
        const char *dict;
        size_t extra;
        size_t data_n;
        int code;
        const char *phrase;
        const char *why;
    } bad[] = {
        {1, good, 100, 8, SL_EFORMAT, "truncated header", "header length beyond the file"},
        {1, "{'descr': '<f4', 'fortran_order': False}", 0, 8, SL_EFORMAT, "missing key 'shape'", "missing key"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 0, 8, SL_EFORMAT, "unexpected key 'x'",
         "extra key"},
        {1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 0, 8, SL_EFORMAT, "duplicate key 'descr'",
         "duplicate key"},
        {1, "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", 0, 8, SL_EFORMAT, "',' or '}' expected", "missing comma"},
        {1, "['descr', '<f4']", 0, 8, SL_EFORMAT, "'{' expected", "not a dict"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", 0, 8, SL_EFORMAT, "bad .npy header dict",
         "dict not closed"},
        {1, "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}", 0, 8, SL_EFORMAT, "bad .npy header dict",
         "unterminated string"},
        {1, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}", 0, 8, SL_EFORMAT, "True or False",
         "fortran_order not a bool"},
        {1, "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2,)}", 0, 8, SL_EFORMAT, "True or False",
         "fortran_order Falsey"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", 0, 8, SL_EFORMAT, "tuple expected", "shape a list"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", 0, 8, SL_EFORMAT, "not a tuple", "shape (2) is an int"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", 0, 8, SL_EFORMAT, "negative dimension",
         "negative dimension"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,)}", 0, 8, SL_EFORMAT, "',' or ')'", "float dimension"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 0, 8, SL_EFORMAT, "too large",
         "dimension overflows int64"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4)}", 0, 8, SL_EFORMAT, "overflows",
         "shape product overflows"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}", 0, 4, SL_EFORMAT, "more than 8",
         "9 dimensions"},
        {1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,)}", 0, 8, SL_EUNSUPPORTED, "big-endian", "big-endian dtype"},
        {1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,)}", 0, 8, SL_EUNSUPPORTED, "fortran_order True",
         "fortran order"},
        {1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,)}", 0, 8, SL_EUNSUPPORTED, "unsupported dtype '<c8'",
         "complex dtype"},
        {1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", 0, 8, SL_EFORMAT, "string expected",
         "record dtype"},
        {1, good, 0, 4, SL_ESHAPE, "data is 4 bytes but the shape and dtype need 8 (truncated)", "data too short"},
        {1, good, 0, 12, SL_ESHAPE, "data is 12 bytes but the shape and dtype need 8 (trailing bytes)", "data too long"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", 0, 8, SL_EFORMAT, "trailing characters",
         "junk after dict"},
        {4, good, 0, 8, SL_EUNSUPPORTED, "version 4.0", "unknown version"},
    };
    float data3[3] = {1, 2, 3};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = npy_image(img, sizeof img, bad[i].major, bad[i].dict, bad[i].extra, data3, bad[i].data_n);
        char label[128];
        snprintf(label, sizeof label, ".npy malformed: %s", bad[i].why);
        memset(&a, 0, sizeof a);
        expect_err(npy_exact(img, n, &a), bad[i].code, bad[i].phrase, label);
        ok(a.data == NULL, "  nothing returned");
        sl_npy_free(&a);
    }
    n = npy_image(img, sizeof img, 1, good, 0, data3, 8);
    img[0] = 'X';
    expect_err(npy_exact(img, n, &a), SL_EFORMAT, "bad magic", ".npy malformed: bad magic");
    expect_err(npy_exact(img, 9, &a), SL_EFORMAT, "too short", ".npy malformed: 9-byte file");
    n = npy_image(img, sizeof img, 2, good, 0, data3, 8);
    expect_err(npy_exact(img, 11, &a), SL_EFORMAT, "12-byte preamble", ".npy malformed: v2 file cut in its preamble");
    img[7] = 1;
    expect_err(npy_exact(img, n, &a), SL_EUNSUPPORTED, "version 2.1", ".npy malformed: minor version 1");
    /* through a file: the path is in the message */
    n = npy_image(img, sizeof img, 1, good, 0, data3, 4);
    write_raw(p, img, n);
    expect_err(sl_npy_read(p, &a), SL_ESHAPE, "a.npy", ".npy read names the file");
    /* every truncation of a valid file is refused */
    n = npy_image(img, sizeof img, 1, good, 0, data3, 8);
    int trunc_ok = 1;
    for (size_t cut = 0; cut < n; cut++) {
        int rc = npy_exact(img, cut, &a);
        trunc_ok &= rc != 0 && a.data == NULL;
    }
    ok(trunc_ok, ".npy: all %zu truncations of a valid file are refused", n);
}

/* ======================================================================================== */
/* atomic writes, read limits, mkdirs                                                        */

static int file_is(const char *path, const char *content)
{
    void *b;
    size_t n;
    if (sl_read_file(path, 1 << 20, &b, &n)) return 0;
    int same = n == strlen(content) && memcmp(b, content, n) == 0 && ((char *)b)[n] == '\0';
    free(b);
    return same;
}

static void test_fileio(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/atomic", tmpdir);
    ok(sl_mkdirs(dir) == 0 && sl_mkdirs(dir) == 0, "sl_mkdirs creates, and is idempotent");
    const char *p = tpath("atomic/f.txt");
    ok(sl_write_file_atomic(p, "first", 5) == 0 && file_is(p, "first"), "atomic write creates the file");
    ok(sl_write_file_atomic(p, "second!", 7) == 0 && file_is(p, "second!"), "atomic write replaces the file");
    ok(count_hidden(dir) == 0, "no temporary file left behind");
    struct stat sb;
    mode_t old = umask(022);
    sl_write_file_atomic(p, "x", 1);
    umask(old);
    int st_rc = stat(p, &sb); /* before ok(): argument evaluation order is unspecified */
    ok(st_rc == 0 && (sb.st_mode & 0777) == 0644, "permissions follow the umask (0%o)", (unsigned)(sb.st_mode & 0777));
    sl_write_file_atomic(p, "second!", 7);

    /* abort: nothing changes */
    sl_afile a;
    ok(sl_afile_open(&a, p) == 0 && a.f && count_hidden(dir) == 1, "sl_afile_open makes one temporary file");
    fputs("garbage", a.f);
    sl_afile_abort(&a);
    ok(file_is(p, "second!") && count_hidden(dir) == 0, "sl_afile_abort unlinks it and keeps the old file");

    /* nonexistent directory */
    const char *q = tpath("no/such/dir/f.txt");
    expect_err(sl_write_file_atomic(q, "x", 1), SL_EIO, "no/such/dir/f.txt", "atomic write into a missing directory");
    ok(strstr(sl_errmsg(), "No such file") != NULL, "  message carries strerror (%s)", sl_errmsg());

    /* a write that fails half-way (file size limit -> EFBIG) leaves the old file intact; this
     * works as root too, unlike a read-only directory */
    struct rlimit rl, small;
    getrlimit(RLIMIT_FSIZE, &rl);
    small = rl;
    small.rlim_cur = 1024;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &small) == 0) {
        char *big = malloc(100000);
        memset(big, 'z', 100000);
        int rc = sl_write_file_atomic(p, big, 100000);
        setrlimit(RLIMIT_FSIZE, &rl);
        expect_err(rc, SL_EIO, "f.txt", "atomic write failing half-way (EFBIG)");
        ok(file_is(p, "second!"), "  the old file is intact");
        ok(count_hidden(dir) == 0, "  and the temporary is gone");
        free(big);
    } else {
        skip("setrlimit(RLIMIT_FSIZE) failed");
        skip("setrlimit(RLIMIT_FSIZE) failed");
        skip("setrlimit(RLIMIT_FSIZE) failed");
    }
    signal(SIGXFSZ, prev);
    /* read-only directory (meaningless for root, who may write anyway) */
    if (geteuid() != 0) {
        chmod(dir, 0555);
        expect_err(sl_write_file_atomic(p, "third", 5), SL_EIO, "Permission denied", "atomic write into a read-only directory");
        chmod(dir, 0755);
        ok(file_is(p, "second!"), "  the old file is intact");
    } else {
        skip("running as root: a read-only directory does not stop writes");
        skip("running as root");
    }
    /* a destination that is a directory is refused before anything is created */
    expect_err(sl_write_file_atomic(dir, "x", 1), SL_EINVAL, "is a directory", "atomic write onto a directory");
    ok(count_hidden(tmpdir) == 0, "  no temporary left next to it");
    /* the final rename fails (a directory appeared at the path after the open): temporary removed */
    {
        char racy[512]; /* a copy: tpath's ring of buffers would soon reuse it (and p) */
        snprintf(racy, sizeof racy, "%s/racy", tmpdir);
        sl_afile r;
        int orc = sl_afile_open(&r, racy);
        if (orc == 0) fputs("x", r.f);
        int mrc = mkdir(racy, 0755);
        if (orc == 0 && mrc == 0) expect_err(sl_afile_commit(&r), SL_EIO, "rename failed", "atomic write whose rename fails");
        else ok(0, "atomic write whose rename fails: setup failed (%d %d)", orc, mrc);
        ok(count_hidden(tmpdir) == 0, "  no temporary left next to it");
        rmdir(racy);
    }
    /* a path naming a directory */
    expect_err(sl_write_file_atomic(tpath("atomic/"), "x", 1), SL_EINVAL, "directory", "atomic write to 'dir/'");

    /* sl_read_file */
    void *b;
    size_t n;
    expect_err(sl_read_file(tpath("atomic/missing"), 100, &b, &n), SL_EIO, "atomic/missing': No such file",
               "read a missing file");
    expect_err(sl_read_file(dir, 100, &b, &n), SL_EIO, "is a directory", "read a directory");
    expect_err(sl_read_file(p, 6, &b, &n), SL_EFORMAT, "limit of 6 bytes", "read a file over the size limit");
    ok(sl_read_file(p, 7, &b, &n) == 0 && n == 7, "read a file at exactly the limit");
    free(b);
    write_raw(tpath("atomic/empty"), "", 0);
    ok(sl_read_file(tpath("atomic/empty"), 7, &b, &n) == 0 && n == 0 && ((char *)b)[0] == '\0', "read an empty file");
    free(b);
    if (access("/dev/null", R_OK) == 0)
        expect_err(sl_read_file("/dev/null", 100, &b, &n), SL_EIO, "not a regular file", "read a character device");
    else skip("no /dev/null");

    /* sl_mkdirs with a file in the way, and deep paths */
    expect_err(sl_mkdirs(tpath("atomic/f.txt/sub")), SL_EIO, "f.txt", "mkdirs through a regular file");
    char deep[600];
    snprintf(deep, sizeof deep, "%s/m1//m2/m3/", tmpdir);
    ok(sl_mkdirs(deep) == 0 && stat(tpath("m1/m2/m3"), &sb) == 0 && S_ISDIR(sb.st_mode), "mkdirs a//b/c/");
}

/* What the atomic writer does with each kind of destination: a symlink is resolved (its target
 * replaced, the link kept), a FIFO and a character device are written straight into and stay
 * what they were, "-" is standard output, a replaced file keeps its mode. The device is one
 * made with mknod in the temporary directory (root only): the test never touches /dev/null. */
static int read_all_fd(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, buf + got, cap - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        if (got == cap - 1) break;
    }
    buf[got] = '\0';
    return (int)got;
}

static void test_atomic_targets(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/targets", tmpdir);
    sl_mkdirs(dir);
    struct stat sb;

    /* a symlink (relative) to a regular file: the target gets the new content, the link stays */
    const char *target = tpath("targets/target.txt"), *link1 = tpath("targets/link1"), *link2 = tpath("targets/link2");
    write_raw(target, "old", 3);
    int l1 = symlink("target.txt", link1), l2 = symlink("link1", link2); /* link2 -> link1 -> target */
    ok(l1 == 0 && l2 == 0 && sl_write_file_atomic(link1, "through the link", 16) == 0, "atomic write through a symlink");
    ok(lstat(link1, &sb) == 0 && S_ISLNK(sb.st_mode), "  the symlink is still a symlink");
    ok(file_is(target, "through the link"), "  its target has the new content");
    ok(sl_write_file_atomic(link2, "two links", 9) == 0 && file_is(target, "two links") && lstat(link2, &sb) == 0 &&
           S_ISLNK(sb.st_mode) && lstat(link1, &sb) == 0 && S_ISLNK(sb.st_mode),
       "  a chain of two symlinks is followed to the file");
    ok(count_hidden(dir) == 0, "  no temporary left behind");
    /* a dangling symlink: the file it names is created, the link stays */
    const char *dang = tpath("targets/dangling");
    int l3 = symlink("created.txt", dang);
    ok(l3 == 0 && sl_write_file_atomic(dang, "made", 4) == 0 && lstat(dang, &sb) == 0 && S_ISLNK(sb.st_mode) &&
           file_is(tpath("targets/created.txt"), "made"),
       "a dangling symlink: its target is created, the link kept");
    /* a symlink loop is an error, not a hang */
    const char *loop = tpath("targets/loop");
    int l4 = symlink("loop", loop);
    expect_err(l4 == 0 ? sl_write_file_atomic(loop, "x", 1) : -99, SL_EIO, "symbolic links", "a symlink loop");

    /* a regular file keeps its permission bits */
    chmod(target, 0640);
    ok(sl_write_file_atomic(target, "mode", 4) == 0 && stat(target, &sb) == 0 && (sb.st_mode & 0777) == 0640,
       "a replaced file keeps its mode (0%o)", (unsigned)(sb.st_mode & 0777));

    /* a FIFO: written into by the writer, read by a child, still a FIFO afterwards */
    const char *fifo = tpath("targets/fifo");
    int pfd[2];
    if (mkfifo(fifo, 0600) == 0 && pipe(pfd) == 0) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) { /* child: read the FIFO to its end, hand the bytes back */
            close(pfd[0]);
            char buf[256];
            int fd = open(fifo, O_RDONLY);
            int n = fd >= 0 ? read_all_fd(fd, buf, sizeof buf) : 0;
            if (n > 0 && write(pfd[1], buf, (size_t)n) != n) _exit(2);
            _exit(fd >= 0 ? 0 : 1);
        }
        close(pfd[1]);
        int rc = sl_write_file_atomic(fifo, "into the fifo", 13);
        char got[256];
        read_all_fd(pfd[0], got, sizeof got);
        close(pfd[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        ok(rc == 0 && !strcmp(got, "into the fifo"), "atomic write to a FIFO writes into it (reader got '%s')", got);
        ok(lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode), "  the FIFO is still a FIFO");
        ok(count_hidden(dir) == 0, "  no temporary left behind");
    } else {
        skip("mkfifo failed");
        skip("mkfifo failed");
        skip("mkfifo failed");
    }

    /* a character device made here (the null device's numbers, 1:3), never /dev/null itself */
    const char *dev = tpath("targets/nulldev");
    if (geteuid() == 0 && mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0) {
        int rc = sl_write_file_atomic(dev, "discarded", 9);
        int fd = open(dev, O_WRONLY); /* a nodev mount refuses to open devices at all */
        if (fd >= 0) {
            close(fd);
            ok(rc == 0, "atomic write to a character device writes into it: %s", rc ? sl_errmsg() : "ok");
        } else {
            ok(rc == SL_EIO, "atomic write to a device on a nodev mount fails cleanly: %s", sl_errmsg());
        }
        ok(lstat(dev, &sb) == 0 && S_ISCHR(sb.st_mode) && major(sb.st_rdev) == 1 && minor(sb.st_rdev) == 3,
           "  the device is still a character device");
        ok(count_hidden(dir) == 0, "  no temporary left behind");
        /* through a symlink to the device as well */
        const char *dlink = tpath("targets/devlink");
        rc = symlink("nulldev", dlink) == 0 ? sl_write_file_atomic(dlink, "x", 1) : -99;
        ok(rc != -99 && lstat(dev, &sb) == 0 && S_ISCHR(sb.st_mode) && lstat(dlink, &sb) == 0 && S_ISLNK(sb.st_mode),
           "  a symlink to the device: device and link unchanged");
        unlink(dev);
    } else {
        for (int i = 0; i < 4; i++) skip("not root, or mknod is not permitted here");
    }

    /* "-": standard output, flushed, not closed */
    const char *cap = tpath("targets/stdout.txt");
    fflush(stdout);
    int saved = dup(1), fd = open(cap, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = -99;
    if (saved >= 0 && fd >= 0 && dup2(fd, 1) == 1) {
        rc = sl_write_file_atomic("-", "to standard output\n", 19);
        fflush(stdout);
        dup2(saved, 1);
    }
    if (fd >= 0) close(fd);
    if (saved >= 0) close(saved);
    ok(rc == 0 && file_is(cap, "to standard output\n"), "atomic write to '-' goes to standard output");
    ok(fcntl(1, F_GETFD) != -1 && count_hidden(dir) == 0, "  standard output is still open, no temporary made");
    sl_afile a;
    ok(sl_afile_open(&a, "-") == 0 && a.f == stdout && a.tmp == NULL, "  sl_afile_open(\"-\") hands out stdout");
    sl_afile_abort(&a);
    ok(fcntl(1, F_GETFD) != -1, "  and sl_afile_abort leaves it open");
}

/* ======================================================================================== */
/* parameter tables                                                                         */

static sl_params *make_params(int with_extra, int64_t w_rows)
{
    sl_params *P = sl_params_new();
    sl_params_add(P, "", "w", 2, w_rows, 3, 0, 0);
    sl_params_add(P, "", "b", 1, 3, 0, 0, 0);
    sl_params_add(P, "emb.", "weight", 2, 4, 2, 0, 0);
    if (with_extra) sl_params_add(P, "", "extra", 1, 1, 0, 0, 0);
    sl_params_alloc(P);
    return P;
}

static void fill(sl_params *P, float base)
{
    for (size_t i = 0; i < P->total; i++) P->data[i] = base + 0.25f * (float)i;
}

static int same_tensor(const sl_params *A, int i, const sl_params *B, int j)
{
    return A->t[i].numel == B->t[j].numel &&
           memcmp(sl_params_data(A, i), sl_params_data(B, j), A->t[i].numel * sizeof(float)) == 0;
}

static void test_params(void)
{
    const char *p = tpath("params.safetensors");
    sl_params *A = make_params(0, 2);
    fill(A, -3.0f);
    const char *meta[] = {"model", "test", "step", "7"};
    ok(sl_params_save(A, p, meta, 2) == 0, "params save");
    sl_safetensors *st = NULL;
    ok(sl_safetensors_read(p, &st) == 0 && st->n == 3 && strcmp(st->t[0].name, "w") == 0 &&
           strcmp(st->t[2].name, "emb.weight") == 0 && st->t[1].dtype == SL_DT_F32 &&
           strcmp(sl_safetensors_meta(st, "step"), "7") == 0,
       "saved as F32 in table order, with metadata");
    sl_safetensors_free(st);

    sl_params *B = make_params(0, 2);
    ok(sl_params_load(B, p, NULL, NULL) == 0 && same_tensor(A, 0, B, 0) && same_tensor(A, 1, B, 1) && same_tensor(A, 2, B, 2),
       "params load round trip is exact");

    /* missing tensor: named; B unchanged */
    sl_params *C = make_params(1, 2);
    fill(C, 100.0f);
    expect_err(sl_params_load(C, p, NULL, NULL), SL_ENOTFOUND, "1 tensor is missing from the file: 'extra'",
               "load: missing tensor");
    ok(C->data[0] == 100.0f, "  failed load leaves the table untouched");
    sl_params_free(C);

    /* many missing: the first few are listed, then a count */
    sl_params *M = sl_params_new();
    char nm[16];
    for (int i = 0; i < 8; i++) {
        snprintf(nm, sizeof nm, "m%d", i);
        sl_params_add(M, "", nm, 1, 2, 0, 0, 0);
    }
    sl_params_alloc(M);
    expect_err(sl_params_load(M, p, NULL, NULL), SL_ENOTFOUND,
               "8 tensors are missing from the file: 'm0', 'm1', 'm2', 'm3', 'm4' and 3 more",
               "load: many missing tensors listed");
    sl_params_free(M);

    /* wrong shape */
    sl_params *D = make_params(0, 3);
    expect_err(sl_params_load(D, p, NULL, NULL), SL_ESHAPE, "tensor 'w' has shape [2, 3] in the file, the model expects [3, 3]",
               "load: wrong shape");
    sl_params_free(D);

    /* extra tensors in the file, ignore suffixes */
    sl_params *E = sl_params_new();
    sl_params_add(E, "", "w", 2, 2, 3, 0, 0);
    sl_params_add(E, "emb.", "weight", 2, 4, 2, 0, 0);
    sl_params_alloc(E);
    expect_err(sl_params_load(E, p, NULL, NULL), SL_EFORMAT, "1 unexpected tensor in the file (not in the model): 'b'",
               "load: extra tensor in the file");
    const char *ign[] = {".num_batches_tracked", "b", NULL};
    ok(sl_params_load(E, p, ign, NULL) == 0 && same_tensor(A, 0, E, 0) && same_tensor(A, 2, E, 1),
       "load: extra tensor matching an ignore suffix is skipped");
    sl_params_free(E);

    /* alias: tie lm_head.weight to the embedding in the file */
    sl_params *F = sl_params_new();
    sl_params_add(F, "", "w", 2, 2, 3, 0, 0);
    sl_params_add(F, "", "b", 1, 3, 0, 0, 0);
    sl_params_add(F, "emb.", "weight", 2, 4, 2, 0, 0);
    sl_params_add(F, "lm_head.", "weight", 2, 4, 2, 0, 0);
    sl_params_alloc(F);
    expect_err(sl_params_load(F, p, NULL, NULL), SL_ENOTFOUND, "'lm_head.weight'", "load: tied head missing without alias");
    const char *alias[] = {"other", "nothing", "lm_head.weight", "emb.weight", NULL};
    ok(sl_params_load(F, p, NULL, alias) == 0 && same_tensor(A, 2, F, 2) && same_tensor(A, 2, F, 3),
       "load: alias maps lm_head.weight to emb.weight");
    sl_params_free(F);
    sl_params *G = sl_params_new(); /* alias target with the wrong shape */
    sl_params_add(G, "", "w", 2, 2, 3, 0, 0);
    sl_params_add(G, "", "b", 1, 3, 0, 0, 0);
    sl_params_add(G, "emb.", "weight", 2, 4, 2, 0, 0);
    sl_params_add(G, "head", "", 1, 8, 0, 0, 0);
    sl_params_alloc(G);
    const char *alias2[] = {"head", "emb.weight", NULL};
    expect_err(sl_params_load(G, p, NULL, alias2), SL_ESHAPE, "via alias 'emb.weight'", "load: alias with the wrong shape");
    sl_params_free(G);

    /* other float dtypes, integer dtype, non-finite values */
    float w6[6] = {0.5f, -1.0f, 2.0f, 0.25f, -0.125f, 8.0f}, b3[3] = {1, 2, 3}, e8[8] = {0};
    double w6d[6];
    uint16_t w6h[6], w6b[6];
    for (int i = 0; i < 6; i++) {
        w6d[i] = w6[i];
        w6h[i] = sl_f32_to_f16(w6[i]);
        w6b[i] = sl_f32_to_bf16(w6[i]);
    }
    int64_t s23[2] = {2, 3}, s3[1] = {3}, s42[2] = {4, 2};
    struct {
        sl_dtype dt;
        const void *w;
    } kinds[] = {{SL_DT_F64, w6d}, {SL_DT_F16, w6h}, {SL_DT_BF16, w6b}};
    for (int k = 0; k < 3; k++) {
        sl_st_writer *wr = sl_st_writer_new();
        sl_st_writer_add(wr, "w", kinds[k].dt, 2, s23, kinds[k].w);
        sl_st_writer_add(wr, "b", SL_DT_F32, 1, s3, b3);
        sl_st_writer_add(wr, "emb.weight", SL_DT_F32, 2, s42, e8);
        sl_st_writer_write(wr, tpath("kinds.safetensors"));
        sl_st_writer_free(wr);
        ok(sl_params_load(B, tpath("kinds.safetensors"), NULL, NULL) == 0 && memcmp(sl_params_data(B, 0), w6, sizeof w6) == 0,
           "load converts %s", sl_dtype_name(kinds[k].dt));
    }
    fill(B, 5.0f);
    float before = B->data[0];
    int32_t wi[6] = {0};
    float wn[6] = {0, 0, 0, NAN, 0, 0};
    sl_st_writer *wr = sl_st_writer_new();
    sl_st_writer_add(wr, "w", SL_DT_I32, 2, s23, wi);
    sl_st_writer_add(wr, "b", SL_DT_F32, 1, s3, b3);
    sl_st_writer_add(wr, "emb.weight", SL_DT_F32, 2, s42, e8);
    sl_st_writer_write(wr, tpath("int.safetensors"));
    sl_st_writer_free(wr);
    expect_err(sl_params_load(B, tpath("int.safetensors"), NULL, NULL), SL_EFORMAT, "tensor 'w' has dtype I32",
               "load: integer dtype refused");
    wr = sl_st_writer_new();
    sl_st_writer_add(wr, "b", SL_DT_F32, 1, s3, b3);
    sl_st_writer_add(wr, "emb.weight", SL_DT_F32, 2, s42, e8);
    sl_st_writer_add(wr, "w", SL_DT_F32, 2, s23, wn);
    sl_st_writer_write(wr, tpath("nan.safetensors"));
    sl_st_writer_free(wr);
    expect_err(sl_params_load(B, tpath("nan.safetensors"), NULL, NULL), SL_ENAN, "tensor 'w'", "load: NaN refused");
    ok(B->data[0] == before && sl_params_data(B, 1)[0] == 5.0f + 0.25f * (float)B->t[1].offset,
       "  failed load leaves every tensor untouched");
    expect_err(sl_params_load(B, tpath("none.safetensors"), NULL, NULL), SL_EIO, "none.safetensors", "load: missing file");
    sl_params_free(A);
    sl_params_free(B);
}

/* ======================================================================================== */
/* reference files written by numpy / an independent writer (t/ref/make_io_fixtures.py)      */

static void test_fixtures(void)
{
    const char *src = getenv("SL_SRCDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/t/data/io_ref.safetensors", src ? src : ".");
    if (access(path, R_OK) != 0) {
        if (src) ok(0, "fixture %s exists", path);
        else skip("SL_SRCDIR not set and t/data not found");
        return;
    }
    sl_safetensors *st = NULL;
    int rc = sl_safetensors_read(path, &st);
    ok(rc == 0, "read io_ref.safetensors (%s)", rc ? sl_errmsg() : "ok");
    if (rc) return;
    ok(st->n == 12 && strcmp(sl_safetensors_meta(st, "format"), "pt") == 0 &&
           strcmp(sl_safetensors_meta(st, "source"), "t/ref/make_io_fixtures.py") == 0,
       "fixture: 12 tensors and metadata");
    float o[8];
    const sl_st_tensor *t = sl_safetensors_find(st, "a.f32");
    ok(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && sl_safetensors_get_f32(st, t, o, 6) == 0 && o[0] == -1.0f &&
           o[1] == -0.5f && o[5] == 1.5f,
       "fixture a.f32 (2, 3)");
    t = sl_safetensors_find(st, "b.f64");
    double d[4];
    if (t) memcpy(d, st->data + t->begin, 32);
    ok(t && t->dtype == SL_DT_F64 && d[0] == M_PI && d[1] == -M_E && d[2] == 1e-3 && d[3] == 12345.678, "fixture b.f64 exact");
    t = sl_safetensors_find(st, "c.f16");
    ok(t && sl_safetensors_get_f32(st, t, o, 5) == 0 && o[0] == 1.0f && o[1] == -2.5f && o[2] == 0x1p-14f && o[3] == 0x1p-24f &&
           o[4] == 65504.0f,
       "fixture c.f16 (numpy float16, incl. subnormal)");
    t = sl_safetensors_find(st, "d.bf16");
    ok(t && sl_safetensors_get_f32(st, t, o, 4) == 0 && o[0] == 1.0f && o[1] == -3.0f && o[2] == 0.15625f && o[3] == 0x1p100f,
       "fixture d.bf16");
    t = sl_safetensors_find(st, "e.i32");
    int32_t i32[4];
    if (t) memcpy(i32, st->data + t->begin, 16);
    ok(t && t->dtype == SL_DT_I32 && i32[0] == -1 && i32[1] == INT32_MAX && i32[2] == INT32_MIN && i32[3] == 7, "fixture e.i32");
    t = sl_safetensors_find(st, "f.i64");
    int64_t i64[3];
    if (t) memcpy(i64, st->data + t->begin, 24);
    ok(t && t->dtype == SL_DT_I64 && i64[0] == -9007199254740993LL && i64[1] == INT64_MAX && i64[2] == 0, "fixture f.i64 exact");
    t = sl_safetensors_find(st, "g.u8");
    ok(t && t->dtype == SL_DT_U8 && st->data[t->begin] == 0 && st->data[t->begin + 1] == 128 && st->data[t->begin + 2] == 255,
       "fixture g.u8");
    t = sl_safetensors_find(st, "h.bool");
    ok(t && t->dtype == SL_DT_BOOL && sl_dtype_to_f32(t->dtype, st->data + t->begin, o, 3, 1) == 0 && o[0] == 1 && o[1] == 0 &&
           o[2] == 1,
       "fixture h.bool");
    t = sl_safetensors_find(st, "i.i8");
    ok(t && sl_dtype_to_f32(t->dtype, st->data + t->begin, o, 3, 1) == 0 && o[0] == -128 && o[1] == 0 && o[2] == 127,
       "fixture i.i8");
    t = sl_safetensors_find(st, "j.i16");
    ok(t && sl_dtype_to_f32(t->dtype, st->data + t->begin, o, 3, 1) == 0 && o[0] == -32768 && o[1] == 1234 && o[2] == 32767,
       "fixture j.i16");
    t = sl_safetensors_find(st, "k.scalar");
    ok(t && t->ndim == 0 && t->numel == 1 && sl_safetensors_get_f32(st, t, o, 1) == 0 && o[0] == 42.0f, "fixture k.scalar (0-d)");
    t = sl_safetensors_find(st, "l.empty");
    ok(t && t->ndim == 2 && t->shape[0] == 0 && t->numel == 0 && t->begin == t->end, "fixture l.empty (0, 3)");
    sl_safetensors_free(st);

    snprintf(path, sizeof path, "%s/t/data/io_ref.npy", src ? src : ".");
    sl_npy a;
    rc = sl_npy_read(path, &a);
    int good = rc == 0 && a.dtype == SL_DT_F32 && a.ndim == 3 && a.shape[0] == 2 && a.shape[1] == 3 && a.shape[2] == 4;
    for (int i = 0; good && i < 24; i++) good = ((float *)a.data)[i] == (float)i / 8 - 1;
    ok(good, "fixture io_ref.npy: numpy.save float32 (2, 3, 4) (%s)", rc ? sl_errmsg() : "ok");
    sl_npy_free(&a);
    snprintf(path, sizeof path, "%s/t/data/io_ref_v2.npy", src ? src : ".");
    rc = sl_npy_read(path, &a);
    int64_t want[6] = {-9007199254740993LL, 1, 2, 3, INT64_MAX, INT64_MIN};
    ok(rc == 0 && a.dtype == SL_DT_I64 && a.ndim == 2 && a.shape[0] == 3 && a.shape[1] == 2 &&
           memcmp(a.data, want, sizeof want) == 0,
       "fixture io_ref_v2.npy: format 2.0 int64 (3, 2) (%s)", rc ? sl_errmsg() : "ok");
    sl_npy_free(&a);
}

/* ======================================================================================== */

static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) rm_rf(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/t-io.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        printf("1..0 # SKIP cannot create a temporary directory: %s\n", strerror(errno));
        return 0;
    }
    test_json();
    test_dtype();
    test_safetensors_roundtrip();
    test_safetensors_malformed();
    test_npy();
    test_fileio();
    test_atomic_targets();
    test_params();
    test_fixtures();
    rm_rf(tmpdir);
    return done_testing();
}
