/*
 * Unit tests of the YAML loader (lib/conftree.c): 1-based positions of
 * every node, raw scalar text and style, the refused YAML features
 * (duplicate keys, aliases, anchors, tags, non-scalar keys, several
 * documents, depth and size caps), ${VAR} expansion, and the error list.
 * Every message is asserted exactly, with its position.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conftree.h"

static er_diag_t diag;
static er_conf_tree_t *tree;
static char tmpdir[64];

static void setup(void)
{
    er__diag_init(&diag);
    tree = NULL;
    strcpy(tmpdir, "/tmp/check_conftree.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];

    er__conf_tree_free(tree);
    tree = NULL;
    er__diag_free(&diag);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Load text as "t.yaml"; the error list starts empty each time. */
static int load(const char *text)
{
    er__diag_free(&diag);
    er__conf_tree_free(tree);
    tree = NULL;
    return er__conf_load_string("t.yaml", text, strlen(text), &tree, &diag);
}

/* Error i formatted as printed. */
static const char *msg(size_t i)
{
    static char buf[1024];

    ck_assert_uint_lt(i, diag.count);
    er__diag_format(&diag, i, buf, sizeof(buf));
    return buf;
}

static const er_conf_node_t *get(const er_conf_node_t *map, const char *key)
{
    const er_conf_node_t *n = er__conf_map_get(map, key);

    ck_assert_msg(n != NULL, "no key %s", key);
    return n;
}

#define ck_assert_pos(node, l, c)                                                                  \
    do {                                                                                           \
        ck_assert_uint_eq((node)->pos.line, (l));                                                  \
        ck_assert_uint_eq((node)->pos.col, (c));                                                   \
        ck_assert_str_eq((node)->pos.file, "t.yaml");                                              \
    } while (0)

/* ============================================================== positions */

START_TEST(positions_block)
{
    const er_conf_node_t *root, *listen, *v;
    const er_conf_pair_t *p;

    ck_assert_int_eq(load("# comment\n"
                          "listen:\n"
                          "  socket: /run/x.sock\n"
                          "  mode:   \"0660\"\n"
                          "limits:\n"
                          "    max_frame: 1MiB\n"),
                     0);
    root = tree->root;
    ck_assert_int_eq(root->kind, ER_CONF_MAP);
    ck_assert_pos(root, 2, 1);
    ck_assert_uint_eq(er__conf_count(root), 2);

    p = er__conf_pair_at(root, 0);
    ck_assert_str_eq(p->key->text, "listen");
    ck_assert_pos(p->key, 2, 1);
    listen = p->value;
    ck_assert_int_eq(listen->kind, ER_CONF_MAP);
    ck_assert_pos(listen, 3, 3);

    p = er__conf_map_find(listen, "socket");
    ck_assert_pos(p->key, 3, 3);
    ck_assert_pos(p->value, 3, 11);
    ck_assert_str_eq(p->value->text, "/run/x.sock");
    ck_assert_int_eq(p->value->style, ER_CONF_PLAIN);

    p = er__conf_map_find(listen, "mode");
    ck_assert_pos(p->key, 4, 3);
    ck_assert_pos(p->value, 4, 11);
    ck_assert_str_eq(p->value->text, "0660");
    ck_assert_int_eq(p->value->style, ER_CONF_DOUBLE_QUOTED);

    v = get(get(root, "limits"), "max_frame");
    ck_assert_pos(v, 6, 16);
    ck_assert_str_eq(v->text, "1MiB");
}
END_TEST

START_TEST(positions_flow_and_lists)
{
    const er_conf_node_t *m, *l;

    ck_assert_int_eq(load("m: {a: 1, 'b': [x, \"y\"]}\n"
                          "l:\n"
                          "  - one\n"
                          "  - k: v\n"
                          "    k2: v2\n"),
                     0);
    m = get(tree->root, "m");
    ck_assert_pos(m, 1, 4);
    ck_assert_pos(get(m, "a"), 1, 8);
    ck_assert_pos(er__conf_map_find(m, "b")->key, 1, 11);
    ck_assert_int_eq(er__conf_map_find(m, "b")->key->style, ER_CONF_SINGLE_QUOTED);
    ck_assert_pos(er__conf_item_at(get(m, "b"), 1), 1, 20);
    ck_assert_str_eq(er__conf_item_at(get(m, "b"), 1)->text, "y");

    l = get(tree->root, "l");
    ck_assert_int_eq(l->kind, ER_CONF_SEQ);
    ck_assert_uint_eq(er__conf_count(l), 2);
    ck_assert_pos(er__conf_item_at(l, 0), 3, 5);
    ck_assert_pos(er__conf_item_at(l, 1), 4, 5);
    ck_assert_pos(get(er__conf_item_at(l, 1), "k2"), 5, 9);
    ck_assert_ptr_null(er__conf_item_at(l, 2));
    ck_assert_ptr_null(er__conf_pair_at(l, 0));
}
END_TEST

START_TEST(raw_text_and_styles)
{
    const er_conf_node_t *r;

    ck_assert_int_eq(load("mode: 0660\n"
                          "flag: on\n"
                          "no: no\n"
                          "null: ~\n"
                          "num: 1e3\n"
                          "hex: 0x1F\n"
                          "empty:\n"
                          "quoted_empty: ''\n"
                          "lit: |\n"
                          "  line1\n"
                          "  line2\n"
                          "fold: >\n"
                          "  a\n"
                          "  b\n"
                          "esc: \"a\\tb\"\n"),
                     0);
    r = tree->root;
    ck_assert_str_eq(get(r, "mode")->text, "0660");
    ck_assert_str_eq(get(r, "flag")->text, "on");
    ck_assert_str_eq(get(r, "no")->text, "no");
    ck_assert_str_eq(get(r, "null")->text, "~");
    ck_assert_str_eq(get(r, "num")->text, "1e3");
    ck_assert_str_eq(get(r, "hex")->text, "0x1F");
    ck_assert(er__conf_is_empty(get(r, "empty")));
    ck_assert_str_eq(er__conf_kind_name(get(r, "empty")), "an empty value");
    ck_assert(!er__conf_is_empty(get(r, "quoted_empty")));
    ck_assert_uint_eq(get(r, "quoted_empty")->len, 0);
    ck_assert_str_eq(get(r, "lit")->text, "line1\nline2\n");
    ck_assert_int_eq(get(r, "lit")->style, ER_CONF_LITERAL);
    ck_assert_pos(get(r, "lit"), 9, 6);
    ck_assert_str_eq(get(r, "fold")->text, "a b\n");
    ck_assert_int_eq(get(r, "fold")->style, ER_CONF_FOLDED);
    ck_assert_str_eq(get(r, "esc")->text, "a\tb");
    ck_assert_uint_eq(get(r, "esc")->len, 3);
}
END_TEST

START_TEST(empty_documents)
{
    ck_assert_int_eq(load(""), 0);
    ck_assert_ptr_null(tree->root);
    ck_assert_str_eq(tree->file, "t.yaml");
    ck_assert_int_eq(load("# only a comment\n\n"), 0);
    ck_assert_ptr_null(tree->root);
    ck_assert_int_eq(load("---\n"), 0);
    ck_assert_ptr_null(tree->root);
    ck_assert_int_eq(load("--- {}\n"), 0);
    ck_assert_int_eq(tree->root->kind, ER_CONF_MAP);
    ck_assert_uint_eq(er__conf_count(tree->root), 0);
    ck_assert_uint_eq(diag.count, 0);
}
END_TEST

/* ========================================================== refused YAML */

START_TEST(duplicate_keys)
{
    ck_assert_int_eq(load("a: 1\n"
                          "b:\n"
                          "  x: 1\n"
                          "  y: 2\n"
                          "  x: 3\n"
                          "a: 4\n"
                          "c: {k: 1, k: 2}\n"),
                     -EINVAL);
    ck_assert_ptr_null(tree);
    ck_assert_uint_eq(diag.count, 3);
    ck_assert_str_eq(msg(0), "t.yaml:5:3: duplicate key \"x\" (first at line 3)");
    ck_assert_str_eq(msg(1), "t.yaml:6:1: duplicate key \"a\" (first at line 1)");
    ck_assert_str_eq(msg(2), "t.yaml:7:11: duplicate key \"k\" (first at line 7)");
}
END_TEST

START_TEST(duplicate_keys_many)
{
    /* A large map: duplicates are found by sorting, each reported once
     * per repeat, naming the first occurrence. */
    size_t n = 5000, i, o = 0;
    char *text = malloc(n * 16 + 64);

    for (i = 0; i < n; i++)
        o += (size_t)sprintf(text + o, "k%zu: %zu\n", i, i);
    o += (size_t)sprintf(text + o, "k17: again\nk17: thrice\n");
    ck_assert_int_eq(er__conf_load_string("t.yaml", text, o, &tree, &diag), -EINVAL);
    free(text);
    ck_assert_uint_eq(diag.count, 2);
    ck_assert_str_eq(msg(0), "t.yaml:5001:1: duplicate key \"k17\" (first at line 18)");
    ck_assert_str_eq(msg(1), "t.yaml:5002:1: duplicate key \"k17\" (first at line 18)");
}
END_TEST

START_TEST(aliases_and_anchors)
{
    ck_assert_int_eq(load("base: &b\n"
                          "  x: 1\n"
                          "copy: *b\n"
                          "s: &s text\n"
                          "l: &l [1]\n"),
                     -EINVAL);
    ck_assert_uint_eq(diag.count, 4);
    ck_assert_str_eq(msg(0), "t.yaml:1:7: YAML aliases/anchors are not supported");
    ck_assert_str_eq(msg(1), "t.yaml:3:7: YAML aliases/anchors are not supported");
    ck_assert_str_eq(msg(2), "t.yaml:4:4: YAML aliases/anchors are not supported");
    ck_assert_str_eq(msg(3), "t.yaml:5:4: YAML aliases/anchors are not supported");
}
END_TEST

START_TEST(alias_bomb_is_cheap)
{
    /* The billion-laughs shape: refused at the first anchor, nothing
     * expanded. */
    ck_assert_int_eq(load("a: &a [x, x, x, x, x, x, x, x, x]\n"
                          "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                          "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"),
                     -EINVAL);
    ck_assert_uint_eq(diag.count, 3);
    ck_assert_str_eq(msg(0), "t.yaml:1:4: YAML aliases/anchors are not supported");
}
END_TEST

START_TEST(tags)
{
    ck_assert_int_eq(load("a: !!str 0660\n"
                          "b: !custom {x: 1}\n"
                          "c: ! plain\n"),
                     -EINVAL);
    ck_assert_uint_eq(diag.count, 3);
    ck_assert_str_eq(msg(0), "t.yaml:1:4: YAML tags are not supported (\"tag:yaml.org,2002:str\"): "
                             "the schema gives every value its type");
    ck_assert_str_eq(msg(1), "t.yaml:2:4: YAML tags are not supported (\"!custom\"): "
                             "the schema gives every value its type");
    ck_assert_str_eq(msg(2), "t.yaml:3:4: YAML tags are not supported (\"!\"): "
                             "the schema gives every value its type");
}
END_TEST

START_TEST(non_scalar_keys)
{
    ck_assert_int_eq(load("? [a, b]\n"
                          ": 1\n"
                          "? {k: v}\n"
                          ": 2\n"
                          "ok: 3\n"),
                     -EINVAL);
    ck_assert_uint_eq(diag.count, 2);
    ck_assert_str_eq(msg(0), "t.yaml:1:3: a key must be a scalar, not a list");
    ck_assert_str_eq(msg(1), "t.yaml:3:3: a key must be a scalar, not a map");
}
END_TEST

START_TEST(several_documents)
{
    ck_assert_int_eq(load("a: 1\n---\nb: 2\n"), -EINVAL);
    ck_assert_uint_eq(diag.count, 1);
    ck_assert_str_eq(msg(0), "t.yaml:2:1: a second YAML document starts here: a file holds one");
    ck_assert_int_eq(load("--- 1\n...\n--- 2\n"), -EINVAL);
    ck_assert_str_eq(msg(0), "t.yaml:3:1: a second YAML document starts here: a file holds one");
}
END_TEST

START_TEST(syntax_errors)
{
    ck_assert_int_eq(load("a: 1\n b: 2\n"), -EINVAL);
    ck_assert_uint_eq(diag.count, 1);
    ck_assert_str_eq(
        msg(0), "t.yaml:2:3: YAML syntax error: mapping values are not allowed in this context");
    ck_assert_int_eq(load("a: [1, 2\n"), -EINVAL);
    ck_assert_str_eq(msg(0), "t.yaml:2:1: YAML syntax error: did not find expected ',' or ']' "
                             "(while parsing a flow sequence at line 1, column 4)");
    ck_assert_int_eq(load("a: \"open\n"), -EINVAL);
    ck_assert_str_eq(msg(0), "t.yaml:2:1: YAML syntax error: found unexpected end of stream "
                             "(while scanning a quoted scalar at line 1, column 4)");
}
END_TEST

START_TEST(invalid_utf8_and_nul)
{
    ck_assert_int_eq(load("a: ok\nb: \xff\n"), -EINVAL);
    ck_assert_uint_eq(diag.count, 1);
    ck_assert_str_eq(msg(0), "t.yaml:2:4: invalid input: invalid leading UTF-8 octet (#xFF)");
    ck_assert_int_eq(load("a: \"x\\0y\"\n"), -EINVAL);
    ck_assert_str_eq(msg(0), "t.yaml:1:4: NUL characters are not allowed");
}
END_TEST

/* Nest `depth` flow maps: {a: {a: ... 1 ...}}. */
static char *nested(unsigned depth)
{
    char *s = malloc(depth * 5 + 8);
    size_t o = 0;
    unsigned i;

    for (i = 0; i < depth; i++)
        o += (size_t)sprintf(s + o, "{a: ");
    s[o++] = '1';
    for (i = 0; i < depth; i++)
        s[o++] = '}';
    s[o] = '\0';
    return s;
}

START_TEST(depth_cap)
{
    char *ok = nested(ER_CONF_MAX_DEPTH), *deep = nested(ER_CONF_MAX_DEPTH + 1);

    ck_assert_int_eq(load(ok), 0);
    ck_assert_int_eq(load(deep), -EINVAL);
    ck_assert_uint_eq(diag.count, 1);
    /* The 65th "{" is at column 4*64+1. */
    ck_assert_str_eq(msg(0), "t.yaml:1:257: nested deeper than 64 levels");
    free(ok);
    free(deep);
}
END_TEST

START_TEST(size_cap)
{
    char path[128];
    char *big = malloc(ER_CONF_MAX_FILE + 1);
    int fd;

    memset(big, '#', ER_CONF_MAX_FILE + 1);
    ck_assert_int_eq(er__conf_load_string("t.yaml", big, ER_CONF_MAX_FILE + 1, &tree, &diag),
                     -EFBIG);
    ck_assert_str_eq(msg(0), "t.yaml: larger than 16 MiB");
    /* Exactly at the cap is fine (a comment). */
    ck_assert_int_eq(er__conf_load_string("t.yaml", big, ER_CONF_MAX_FILE, &tree, &diag), 0);
    ck_assert_ptr_null(tree->root);
    er__conf_tree_free(tree);
    free(big);

    snprintf(path, sizeof(path), "%s/big.yaml", tmpdir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, ER_CONF_MAX_FILE + 1), 0);
    close(fd);
    ck_assert_int_eq(er__conf_load_file(path, &tree, &diag), -EFBIG);
    ck_assert_ptr_null(tree);
    ck_assert_uint_eq(diag.count, 2);
    ck_assert(strstr(msg(1), "/big.yaml: larger than 16 MiB") != NULL);
}
END_TEST

/* ============================================================ expansion */

START_TEST(env_expansion)
{
    const er_conf_node_t *r;

    setenv("ER_T_HOST", "db.example", 1);
    setenv("ER_T_EMPTY", "", 1);
    unsetenv("ER_T_UNSET");
    ck_assert_int_eq(load("a: ${ER_T_HOST}\n"
                          "b: redis://${ER_T_HOST}:6379/0\n"
                          "c: ${ER_T_UNSET:-127.0.0.1}\n"
                          "d: ${ER_T_EMPTY:-fallback}\n"
                          "e: ${ER_T_EMPTY}\n"
                          "f: $${ER_T_HOST} costs $$5\n"
                          "g: '${ER_T_HOST:-x}'\n"
                          "h: ${ER_T_HOST:-}\n"
                          "i: ${ER_T_UNSET:-}\n"
                          "${ER_T_HOST}: keys are literal\n"),
                     0);
    r = tree->root;
    ck_assert_str_eq(get(r, "a")->text, "db.example");
    ck_assert_str_eq(get(r, "b")->text, "redis://db.example:6379/0");
    ck_assert_str_eq(get(r, "c")->text, "127.0.0.1");
    ck_assert_str_eq(get(r, "d")->text, "fallback");
    ck_assert_str_eq(get(r, "e")->text, "");
    ck_assert_uint_eq(get(r, "e")->len, 0);
    ck_assert_str_eq(get(r, "f")->text, "${ER_T_HOST} costs $5");
    ck_assert_str_eq(get(r, "g")->text, "db.example");
    ck_assert_str_eq(get(r, "h")->text, "db.example");
    ck_assert_str_eq(get(r, "i")->text, "");
    ck_assert_str_eq(get(r, "${ER_T_HOST}")->text, "keys are literal");
    /* The position stays the scalar's. */
    ck_assert_pos(get(r, "b"), 2, 4);
    unsetenv("ER_T_HOST");
    unsetenv("ER_T_EMPTY");
}
END_TEST

START_TEST(env_errors)
{
    unsetenv("ER_T_UNSET");
    ck_assert_int_eq(load("a: ${ER_T_UNSET}\n"
                          "b: x-${ER_T_UNSET}\n"
                          "c: \"quoted ${ER_T_UNSET}\"\n"
                          "d: |\n"
                          "  multi ${ER_T_UNSET}\n"
                          "e: ${1X}\n"
                          "f: ${A-b}\n"
                          "g: ${A:=b}\n"
                          "h: ${A\n"
                          "i: cost $5\n"
                          "j: end$\n"
                          "k: ${A:-$HOME}\n"
                          "l: ${}\n"),
                     -EINVAL);
    ck_assert_uint_eq(diag.count, 12);
    ck_assert_str_eq(msg(0), "t.yaml:1:4: environment variable ER_T_UNSET is not set "
                             "(${ER_T_UNSET:-default} gives a default)");
    ck_assert_str_eq(msg(1), "t.yaml:2:6: environment variable ER_T_UNSET is not set "
                             "(${ER_T_UNSET:-default} gives a default)");
    ck_assert_str_eq(msg(2), "t.yaml:3:12: environment variable ER_T_UNSET is not set "
                             "(${ER_T_UNSET:-default} gives a default)");
    /* A block scalar: positions inside it are not exact, the scalar's is. */
    ck_assert_str_eq(msg(3), "t.yaml:4:4: environment variable ER_T_UNSET is not set "
                             "(${ER_T_UNSET:-default} gives a default)");
    ck_assert_str_eq(msg(4), "t.yaml:6:4: invalid environment variable name in \"${1X}\"");
    ck_assert_str_eq(
        msg(5), "t.yaml:7:4: unsupported expansion \"${A-b}\": only ${VAR} and ${VAR:-default}");
    ck_assert_str_eq(msg(6), "t.yaml:8:4: unsupported expansion \"${A:=b}\": only ${VAR} and "
                             "${VAR:-default}");
    ck_assert_str_eq(msg(7), "t.yaml:9:4: unterminated \"${\" (no closing \"}\")");
    ck_assert_str_eq(
        msg(8), "t.yaml:10:9: a \"$\" must start ${VAR}, ${VAR:-default} or $$ (a literal \"$\")");
    ck_assert_str_eq(
        msg(9), "t.yaml:11:7: a \"$\" must start ${VAR}, ${VAR:-default} or $$ (a literal \"$\")");
    ck_assert_str_eq(msg(10), "t.yaml:12:4: the default in \"${A:-$HOME}\" may not contain \"$\"");
    ck_assert_str_eq(msg(11), "t.yaml:13:4: invalid environment variable name in \"${}\"");
}
END_TEST

/* ============================================================ file errors */

START_TEST(file_errors)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
    ck_assert_int_eq(er__conf_load_file(path, &tree, &diag), -ENOENT);
    ck_assert_ptr_null(tree);
    ck_assert_uint_eq(diag.count, 1);
    ck_assert_str_eq(diag.items[0].msg, "cannot open: No such file or directory");
    ck_assert_str_eq(diag.items[0].file, path);
    ck_assert_uint_eq(diag.items[0].line, 0);

    ck_assert_int_eq(er__conf_load_file(tmpdir, &tree, &diag), -EISDIR);
    ck_assert_str_eq(diag.items[1].msg, "cannot read: Is a directory");

    snprintf(path, sizeof(path), "%s/ok.yaml", tmpdir);
    f = fopen(path, "w");
    fputs("a:\n  b: 1\n", f);
    fclose(f);
    ck_assert_int_eq(er__conf_load_file(path, &tree, &diag), 0);
    ck_assert_str_eq(tree->file, path);
    ck_assert_str_eq(get(get(tree->root, "a"), "b")->pos.file, path);
    ck_assert_uint_eq(get(get(tree->root, "a"), "b")->pos.line, 2);
}
END_TEST

/* ============================================================= lookups */

START_TEST(lookups_and_clone)
{
    er_conf_tree_t *copy;
    const er_conf_node_t *sub;
    char q[16], wide[32];

    ck_assert_int_eq(load("a:\n  list: [x, y]\n  m: {k: v}\nb: 2\n"), 0);
    ck_assert_ptr_null(er__conf_map_get(tree->root, "nope"));
    ck_assert_ptr_null(er__conf_map_get(NULL, "a"));
    ck_assert_ptr_null(er__conf_map_get(get(tree->root, "b"), "a"));
    ck_assert_uint_eq(er__conf_count(get(tree->root, "b")), 0);
    ck_assert_uint_eq(er__conf_count(NULL), 0);
    ck_assert_str_eq(er__conf_kind_name(get(tree->root, "a")), "a map");
    ck_assert_str_eq(er__conf_kind_name(get(get(tree->root, "a"), "list")), "a list");
    ck_assert_str_eq(er__conf_kind_name(get(tree->root, "b")), "a scalar");

    copy = er__conf_tree_clone(get(tree->root, "a"));
    ck_assert_ptr_nonnull(copy);
    er__conf_tree_free(tree);
    tree = NULL;
    ck_assert_str_eq(copy->file, "t.yaml");
    sub = get(copy->root, "m");
    ck_assert_str_eq(get(sub, "k")->text, "v");
    ck_assert_uint_eq(get(sub, "k")->pos.line, 3);
    ck_assert_uint_eq(get(sub, "k")->pos.col, 10);
    ck_assert_ptr_eq(get(sub, "k")->pos.file, copy->file);
    ck_assert_str_eq(er__conf_item_at(get(copy->root, "list"), 1)->text, "y");
    er__conf_tree_free(copy);

    ck_assert_str_eq(er__conf_quote("a\"b\\c\n", 6, wide, sizeof(wide)), "\"a\\\"b\\\\c\\x0a\"");
    ck_assert_str_eq(er__conf_quote("0123456789abcdef", 16, q, sizeof(q)), "\"0123456...\"");
}
END_TEST

/* ========================================================== diagnostics */

START_TEST(diag_print_sort_and_cap)
{
    er_conf_pos_t a = {"f.yaml", 3, 2}, b = {"f.yaml", 1, 9}, whole = {"f.yaml", 0, 0};
    er_conf_pos_t line_only = {"f.yaml", 2, 0};
    char *out = NULL;
    size_t len = 0, i;
    FILE *f;

    ck_assert_int_eq(er__diag_add(&diag, &a, "third %d", 3), -EINVAL);
    er__diag_add(&diag, &b, "second");
    er__diag_add(&diag, &whole, "first");
    er__diag_add(&diag, &line_only, "line only");
    er__diag_add(&diag, NULL, "no position");
    er__diag_sort(&diag);
    f = open_memstream(&out, &len);
    ck_assert_int_eq(er__diag_print(&diag, f), 0);
    fclose(f);
    ck_assert_str_eq(out, "no position\n"
                          "f.yaml: first\n"
                          "f.yaml:1:9: second\n"
                          "f.yaml:2: line only\n"
                          "f.yaml:3:2: third 3\n");
    free(out);

    for (i = diag.count; i < ER_DIAG_MAX + 7; i++)
        er__diag_add(&diag, &a, "more");
    ck_assert_uint_eq(diag.count, ER_DIAG_MAX);
    ck_assert_uint_eq(er__diag_count(&diag), ER_DIAG_MAX + 7);
    f = open_memstream(&out, &len);
    er__diag_print(&diag, f);
    fclose(f);
    ck_assert(strstr(out, "\nf.yaml: 7 more errors not shown\n") != NULL);
    free(out);
}
END_TEST

START_TEST(collects_several_errors)
{
    unsetenv("ER_T_UNSET");
    ck_assert_int_eq(load("a: ${ER_T_UNSET}\n"
                          "b: *x\n"
                          "c:\n"
                          "  d: 1\n"
                          "  d: 2\n"
                          "e: !!int 1\n"),
                     -EINVAL);
    ck_assert_uint_eq(diag.count, 4);
    ck_assert_uint_eq(diag.items[0].line, 1);
    ck_assert_uint_eq(diag.items[1].line, 2);
    ck_assert_uint_eq(diag.items[2].line, 5);
    ck_assert_uint_eq(diag.items[3].line, 6);
}
END_TEST

static Suite *conftree_suite(void)
{
    Suite *s = suite_create("conftree");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, positions_block);
    tcase_add_test(tc, positions_flow_and_lists);
    tcase_add_test(tc, raw_text_and_styles);
    tcase_add_test(tc, empty_documents);
    tcase_add_test(tc, duplicate_keys);
    tcase_add_test(tc, duplicate_keys_many);
    tcase_add_test(tc, aliases_and_anchors);
    tcase_add_test(tc, alias_bomb_is_cheap);
    tcase_add_test(tc, tags);
    tcase_add_test(tc, non_scalar_keys);
    tcase_add_test(tc, several_documents);
    tcase_add_test(tc, syntax_errors);
    tcase_add_test(tc, invalid_utf8_and_nul);
    tcase_add_test(tc, depth_cap);
    tcase_add_test(tc, size_cap);
    tcase_add_test(tc, env_expansion);
    tcase_add_test(tc, env_errors);
    tcase_add_test(tc, file_errors);
    tcase_add_test(tc, lookups_and_clone);
    tcase_add_test(tc, diag_print_sort_and_cap);
    tcase_add_test(tc, collects_several_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conftree_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
