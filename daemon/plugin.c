/*
 * The plugin loader (see plugin.h): the search path, the file checks every
 * loaded file passes (ownership and permissions, as sshd checks its files),
 * dlopen RTLD_NOW|RTLD_LOCAL, and the descriptor checks of lib/plugdesc.c.
 * A file loaded twice is shared: the registry below keys loaded files by
 * device and inode, so two names for one file (a symlink, a second config
 * block) give one handle and one set of statics. A file is dlopened
 * through an fd it holds (/proc/self/fd/N): glibc returns an object
 * already loaded under the same name, so a plugin replaced at its path
 * (install, mv) and loaded by a reload would otherwise run the old code.
 *
 * Loop thread only (the registry is not locked); --help-plugin runs before
 * the loop exists.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "options.h"
#include "plugdesc.h"
#include "plugin.h"

/* A loaded file: the public part first, so er_plugin_lib_t * converts. */
typedef struct lib_s {
    er_plugin_lib_t pub;
    er_plugin_desc_t checked; /* pub.desc and pub.ops point in here */
    dev_t dev;
    ino_t ino;
    int fd; /* held while loaded: its /proc/self/fd name is the object's; -1 */
    struct lib_s *next;
} lib_t;

static lib_t *loaded;
/* The registry and the reference counts are shared by the loop and a
 * reload's thread (which loads the plugins a new file names). */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

#define ENV_PATH "EVENTROUTER_PLUGIN_PATH"

/* ------------------------------------------------------------- messages */

const char *er__plugin_kind_name(er_plugin_kind_t kind)
{
    const char *s = er__plugdesc_kind_name(kind);
    return strcmp(s, "unknown") == 0 ? "?" : s;
}

/* ---------------------------------------------------------- file checks */

/* One stat'ed object against the rules; `what` is "file" or "directory
 * DIR" for the message. */
static int check_stat(const char *path, const struct stat *st, const char *what, char *err,
                      size_t cap)
{
    uid_t euid = geteuid();

    if (st->st_uid != 0 && st->st_uid != euid) {
        if (euid == 0)
            return er__plugin_refuse(err, cap, -EPERM,
                                     "%s: refusing to load: %s is owned by uid %u (must be root)",
                                     path, what, (unsigned)st->st_uid);
        return er__plugin_refuse(err, cap, -EPERM,
                                 "%s: refusing to load: %s is owned by uid %u (must be root or the "
                                 "daemon's uid %u)",
                                 path, what, (unsigned)st->st_uid, (unsigned)euid);
    }
    if (st->st_mode & S_IWOTH)
        return er__plugin_refuse(err, cap, -EPERM,
                                 "%s: refusing to load: %s is world-writable (mode %04o)", path,
                                 what, (unsigned)(st->st_mode & 07777));
    if (st->st_mode & S_IWGRP)
        return er__plugin_refuse(err, cap, -EPERM,
                                 "%s: refusing to load: %s is group-writable (mode %04o)", path,
                                 what, (unsigned)(st->st_mode & 07777));
    return 0;
}

/* The directory holding `file` (a path with a '/'), checked. */
static int check_dir_of(const char *path, const char *file, char *err, size_t cap)
{
    char dir[PATH_MAX], what[PATH_MAX + 16];
    const char *slash = strrchr(file, '/');
    size_t n;
    struct stat st;

    if (slash == NULL)
        return 0;
    n = slash == file ? 1 : (size_t)(slash - file);
    if (n >= sizeof(dir))
        return er__plugin_refuse(err, cap, -ENAMETOOLONG, "%s: path too long", path);
    memcpy(dir, file, n);
    dir[n] = '\0';
    if (stat(dir, &st) != 0)
        return er__plugin_refuse(err, cap, -errno, "%s: %s: %s", path, dir, strerror(errno));
    snprintf(what, sizeof(what), "directory %s", dir);
    return check_stat(path, &st, what, err, cap);
}

int er__plugin_check_file(const char *path, char *err, size_t cap)
{
    char real[PATH_MAX];
    struct stat st;
    int rc;

    if (stat(path, &st) != 0)
        return er__plugin_refuse(err, cap, -errno, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return er__plugin_refuse(err, cap, -EPERM, "%s: refusing to load: not a regular file",
                                 path);
    if ((rc = check_stat(path, &st, "file", err, cap)) != 0)
        return rc;
    /* The directory as named (who can swap the name) and, through a
     * symlink, the real one (who can swap the file). */
    if ((rc = check_dir_of(path, path, err, cap)) != 0)
        return rc;
    if (realpath(path, real) == NULL)
        return er__plugin_refuse(err, cap, -errno, "%s: %s", path, strerror(errno));
    if (strcmp(real, path) != 0 && (rc = check_dir_of(path, real, err, cap)) != 0)
        return rc;
    return 0;
}

/* ---------------------------------------------------------- search path */

/* The build tree this executable runs from, or NULL when it is installed.
 * The compile-time build directory counts only when the executable lives
 * in it (a copied or installed binary must not load build-tree files);
 * otherwise a directory above the executable's that holds config.status
 * and plugins/ is taken for a (moved) build tree. */
static const char *build_tree(void)
{
    static char tree[PATH_MAX];
    static int done;
    char exe[PATH_MAX], cand[PATH_MAX + 32], *slash;
    struct stat st;
    size_t n;

    if (done)
        return tree[0] ? tree : NULL;
    done = 1;
    if (realpath("/proc/self/exe", exe) == NULL)
        return NULL;
#ifdef ER_BUILDDIR
    if (realpath(ER_BUILDDIR, cand) != NULL) {
        n = strlen(cand);
        if (strncmp(exe, cand, n) == 0 && exe[n] == '/') {
            memcpy(tree, cand, n + 1);
            return tree;
        }
    }
#endif
    /* BUILD/daemon/eventrouterd: the parent of the executable's directory. */
    if ((slash = strrchr(exe, '/')) == NULL)
        return NULL;
    *slash = '\0';
    if ((slash = strrchr(exe, '/')) == NULL || slash == exe)
        return NULL;
    *slash = '\0';
    snprintf(cand, sizeof(cand), "%s/config.status", exe);
    if (stat(cand, &st) != 0 || !S_ISREG(st.st_mode))
        return NULL;
    snprintf(cand, sizeof(cand), "%s/plugins", exe);
    if (stat(cand, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    snprintf(tree, sizeof(tree), "%s", exe);
    return tree;
}

typedef struct dirs_s {
    char **v;
    size_t n, cap;
    bool nomem;
} dirs_t;

static void dirs_add(dirs_t *d, const char *s, size_t len)
{
    char *copy;

    if (len == 0 || d->nomem)
        return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        char **v = realloc(d->v, cap * sizeof(*v));
        if (v == NULL) {
            d->nomem = true;
            return;
        }
        d->v = v;
        d->cap = cap;
    }
    if ((copy = strndup(s, len)) == NULL) {
        d->nomem = true;
        return;
    }
    d->v[d->n++] = copy;
}

static void dirs_free(dirs_t *d)
{
    size_t i;

    for (i = 0; i < d->n; i++)
        free(d->v[i]);
    free(d->v);
}

/* The directories searched for `name` (NULL: "*", for descriptions) of a
 * kind, in order. */
static int search_dirs(er_plugin_kind_t kind, const char *name, const char *const *plugin_path,
                       dirs_t *d)
{
    const char *env = getenv(ENV_PATH), *tree = build_tree(), *kn = er__plugin_kind_name(kind);
    char buf[PATH_MAX + 64];
    int n;

    memset(d, 0, sizeof(*d));
    while (env != NULL && *env) {
        const char *colon = strchr(env, ':');
        size_t len = colon ? (size_t)(colon - env) : strlen(env);
        dirs_add(d, env, len);
        env = colon ? colon + 1 : NULL;
    }
    for (; plugin_path != NULL && *plugin_path != NULL; plugin_path++)
        dirs_add(d, *plugin_path, strlen(*plugin_path));
    if (tree != NULL) {
        n = snprintf(buf, sizeof(buf), "%s/plugins/%ss/%s/.libs", tree, kn, name ? name : "*");
        dirs_add(d, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
    }
    n = snprintf(buf, sizeof(buf), "%s/eventrouter/%ss", ER_LIBDIR, kn);
    dirs_add(d, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
    if (d->nomem) {
        dirs_free(d);
        return -ENOMEM;
    }
    return 0;
}

void er__plugin_describe_path(er_plugin_kind_t kind, const char *const *plugin_path, char *buf,
                              size_t cap)
{
    dirs_t d;
    size_t i, used = 0;

    if (cap == 0)
        return;
    buf[0] = '\0';
    if (search_dirs(kind, NULL, plugin_path, &d) != 0)
        return;
    for (i = 0; i < d.n && used < cap; i++) {
        int n = snprintf(buf + used, cap - used, "%s\n", d.v[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    dirs_free(&d);
}

/* Find NAME.so on the path: 0 with the file in path[cap], or -ENOENT with
 * the directories searched in err. */
static int find_file(er_plugin_kind_t kind, const char *name, const char *const *plugin_path,
                     char *path, size_t cap, char *err, size_t ecap)
{
    dirs_t d;
    size_t i, used;
    struct stat st;
    int rc;

    if ((rc = search_dirs(kind, name, plugin_path, &d)) != 0)
        return er__plugin_refuse(err, ecap, rc, "%s plugin \"%s\": out of memory",
                                 er__plugin_kind_name(kind), name);
    for (i = 0; i < d.n; i++) {
        if ((size_t)snprintf(path, cap, "%s/%s.so", d.v[i], name) >= cap)
            continue;
        if (stat(path, &st) == 0) {
            dirs_free(&d);
            return 0;
        }
    }
    used = (size_t)snprintf(err, ecap, "%s.so: %s plugin not found (searched: ", name,
                            er__plugin_kind_name(kind));
    for (i = 0; i < d.n && used < ecap; i++)
        used += (size_t)snprintf(err + used, ecap - used, "%s%s", i ? ", " : "", d.v[i]);
    if (used < ecap)
        snprintf(err + used, ecap - used, ")");
    dirs_free(&d);
    return -ENOENT;
}

/* ---------------------------------------------------------------- load */

static lib_t *registry_find(dev_t dev, ino_t ino)
{
    lib_t *l;

    for (l = loaded; l != NULL; l = l->next)
        if (l->dev == dev && l->ino == ino)
            return l;
    return NULL;
}

/* dlerror() text usually starts with the file name again; drop it. */
static const char *dl_reason(const char *path)
{
    const char *e = dlerror();
    size_t n = strlen(path);

    if (e == NULL)
        return "unknown dlopen error";
    if (strncmp(e, path, n) == 0 && e[n] == ':' && e[n + 1] == ' ')
        return e + n + 2;
    return e;
}

/* The size of the exported descriptor, from the ELF symbol table (0 when
 * unknown). */
static size_t symbol_size(const void *sym)
{
    Dl_info info;
    const ElfW(Sym) *esym = NULL;

    if (dladdr1(sym, &info, (void **)&esym, RTLD_DL_SYMENT) == 0 || esym == NULL)
        return 0;
    return (size_t)esym->st_size;
}

static int open_lib(er_plugin_kind_t kind, const char *path, const struct stat *st, lib_t **out,
                    char *err, size_t cap)
{
    lib_t *l;
    void *dl, *sym;
    char byfd[64];
    int rc, fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat fst;

    /* Load what was checked: the fd's file, under a name no other loaded
     * object has (the fd stays open while it is loaded). */
    if (fd >= 0 && fstat(fd, &fst) == 0 && fst.st_dev == st->st_dev && fst.st_ino == st->st_ino &&
        access("/proc/self/fd", X_OK) == 0) {
        snprintf(byfd, sizeof(byfd), "/proc/self/fd/%d", fd);
    } else {
        if (fd >= 0)
            close(fd);
        fd = -1;
        snprintf(byfd, sizeof(byfd), "%s", "");
    }
    dlerror();
    if ((dl = dlopen(fd >= 0 ? byfd : path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        rc = er__plugin_refuse(err, cap, -ENOEXEC, "%s: cannot load: %s", path,
                               dl_reason(fd >= 0 ? byfd : path));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    dlerror();
    if ((sym = dlsym(dl, "er_plugin_entry")) == NULL) {
        rc = er__plugin_refuse(err, cap, -ENOEXEC,
                               "%s: not an eventrouter plugin (no er_plugin_entry symbol)", path);
        goto fail;
    }
    if ((l = calloc(1, sizeof(*l))) == NULL) {
        rc = er__plugin_refuse(err, cap, -ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    if ((rc = er__plugdesc_check(sym, symbol_size(sym), kind, path, &l->checked, err, cap)) != 0) {
        free(l);
        goto fail;
    }
    if ((l->pub.path = strdup(path)) == NULL) {
        free(l);
        rc = er__plugin_refuse(err, cap, -ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    l->pub.dl = dl;
    l->pub.desc = &l->checked.desc;
    l->pub.ops = l->checked.desc.ops;
    l->pub.ops_size = l->checked.ops_size;
    l->pub.refs = 1;
    l->dev = st->st_dev;
    l->ino = st->st_ino;
    l->fd = fd;
    l->next = loaded;
    loaded = l;
    *out = l;
    return 0;

fail:
    dlclose(dl);
    if (fd >= 0)
        close(fd);
    return rc;
}

int er__plugin_load(er_plugin_kind_t kind, const char *name, const char *const *plugin_path,
                    er_plugin_lib_t **out, char *err, size_t cap)
{
    char path[PATH_MAX];
    struct stat st;
    lib_t *l;
    int rc;

    *out = NULL;
    if (name == NULL || *name == '\0')
        return er__plugin_refuse(err, cap, -EINVAL, "empty %s plugin name",
                                 er__plugin_kind_name(kind));
    if (strchr(name, '/') != NULL) {
        if (name[0] != '/')
            return er__plugin_refuse(
                err, cap, -EINVAL, "%s: a plugin is a name on the plugin path or an absolute path",
                name);
        if (strlen(name) >= sizeof(path))
            return er__plugin_refuse(err, cap, -ENAMETOOLONG, "%s: path too long", name);
        strcpy(path, name);
    } else if (name[0] == '.') {
        return er__plugin_refuse(err, cap, -EINVAL, "%s: not a plugin name", name);
    } else if ((rc = find_file(kind, name, plugin_path, path, sizeof(path), err, cap)) != 0) {
        return rc;
    }

    if ((rc = er__plugin_check_file(path, err, cap)) != 0)
        return rc;
    if (stat(path, &st) != 0)
        return er__plugin_refuse(err, cap, -errno, "%s: %s", path, strerror(errno));
    pthread_mutex_lock(&registry_lock);
    if ((l = registry_find(st.st_dev, st.st_ino)) != NULL) {
        if (l->pub.desc->kind != kind) {
            rc = er__plugin_refuse(err, cap, -EINVAL, "%s: is a %s plugin, not a %s", path,
                                   er__plugin_kind_name(l->pub.desc->kind),
                                   er__plugin_kind_name(kind));
        } else {
            l->pub.refs++;
            *out = &l->pub;
            rc = 0;
        }
        pthread_mutex_unlock(&registry_lock);
        return rc;
    }
    rc = open_lib(kind, path, &st, &l, err, cap);
    pthread_mutex_unlock(&registry_lock);
    if (rc != 0)
        return rc;
    *out = &l->pub;
    return 0;
}

void er__plugin_unload(er_plugin_lib_t *lib)
{
    lib_t *l = (lib_t *)lib, **pp;
    const char *keep;

    if (lib == NULL)
        return;
    pthread_mutex_lock(&registry_lock);
    if (--lib->refs > 0) {
        pthread_mutex_unlock(&registry_lock);
        return;
    }
    for (pp = &loaded; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    }
    keep = getenv("ER_NO_DLCLOSE");
    if (keep == NULL || strcmp(keep, "1") != 0) {
        dlclose(lib->dl);
        if (l->fd >= 0)
            close(l->fd);
    }
    pthread_mutex_unlock(&registry_lock);
    free(lib->path);
    free(l);
}

void er__plugin_ref(er_plugin_lib_t *lib)
{
    pthread_mutex_lock(&registry_lock);
    lib->refs++;
    pthread_mutex_unlock(&registry_lock);
}

/* -------------------------------------------------------- --help-plugin */

int er__plugin_help(const char *kind_slash_name, const char *const *plugin_path, FILE *out)
{
    const char *slash = strchr(kind_slash_name, '/');
    er_plugin_lib_t *lib;
    const er_plugin_t *d;
    char err[1024];
    int kind, rc;

    if (slash == NULL || slash[1] == '\0') {
        fprintf(stderr, "--help-plugin %s: expected KIND/NAME (e.g. handler/log)\n",
                kind_slash_name);
        return -EINVAL;
    }
    kind = er__plugdesc_kind_parse(kind_slash_name, (size_t)(slash - kind_slash_name));
    if (kind < 0) {
        fprintf(stderr, "--help-plugin %s: unknown kind \"%.*s\" (handler, broker or store)\n",
                kind_slash_name, (int)(slash - kind_slash_name), kind_slash_name);
        return -EINVAL;
    }
    if ((rc = er__plugin_load((er_plugin_kind_t)kind, slash + 1, plugin_path, &lib, err,
                              sizeof(err))) != 0) {
        fprintf(stderr, "%s\n", err);
        return rc;
    }
    d = lib->desc;
    fprintf(out, "%s %s: %s\n", d->name, d->version ? d->version : "(no version)",
            d->description ? d->description : "(no description)");
    fprintf(out, "  kind:    %s\n", er__plugin_kind_name(d->kind));
    fprintf(out, "  file:    %s\n", lib->path);
    fprintf(out, "  ABI:     %u.%u\n", (unsigned)d->abi_major, (unsigned)d->abi_minor);
    fprintf(out, "  flags:   %s\n", (d->flags & ER_PLUGIN_BLOCKING) ? "blocking" : "none");
    if (d->options == NULL || d->options[0].key == NULL) {
        fprintf(out, "\nOptions: none.\n");
    } else {
        fprintf(out, "\nOptions (in the %s's block of eventrouter.yaml):\n",
                er__plugin_kind_name(d->kind));
        er__options_help(d->options, out);
    }
    er__plugin_unload(lib);
    return 0;
}
