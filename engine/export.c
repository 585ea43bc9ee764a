/*
 * engine/export.c: the export job: checks the request, applies the state to the
 * base model, runs the format's exporter on a temporary name next to the
 * output and renames it into place, then reports what was written.
 *
 * An exporter writes one file or one directory (the table says which).
 * The temporary is "<out>.export-PID-XXXXXX" in the output's own
 * directory, so the final rename never crosses file systems; a failed or
 * cancelled export removes it, and an existing output is replaced only
 * with force (a file atomically; a directory is moved aside as
 * "<out>.old-PID-XXXXXX", the new one renamed in, then the old one
 * removed).  A process killed outright leaves them behind: the next
 * export to the same output removes those whose PID is no longer alive.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "formats/export.h"
#include "fileio.h"
#include "model.h"

/*
 * One format: its name, its exporter, whether it writes a directory, and
 * for messages and front ends what the output is and the types it takes.
 */
typedef struct export_format {
	const char *name;
	tq_exporter fn;
	int is_dir;
	const char *writes;
	const char *types;
	int moe;		/* takes a mixture-of-experts model */
} export_format;

/*
 * Each format adds its line here (and its file to Makefile.am).
 */
static const export_format formats[] = {
	{ "gguf", tq_export_gguf, 0, "one .gguf file", TQ_EXPORT_GGUF_TYPES
	    " (- keeps the state's grid)", 1 },
	{ "awq", tq_export_awq, 1, "an AutoAWQ GEMM checkpoint directory",
	    "gemm (or -): a state on int4 groups of 32, 64 or 128", 0 },
	{ "gptq", tq_export_gptq, 1, "a GPTQ checkpoint directory",
	    "gptq (or -), gptq_v2", 1 },
	{ "compressed-tensors", tq_export_ct, 1,
	    "a compressed-tensors checkpoint directory",
	    "- only: the state's grid decides (w4a16, w8a16, fp8)", 1 },
	{ "trtllm", tq_export_trtllm, 1, "a TensorRT-LLM checkpoint directory",
	    "hf (or -): Model Optimizer's checkpoint; checkpoint: rank0", 0 },
	{ "mlx", tq_export_mlx, 1, "an mlx-lm model directory",
	    "- (the state's grid), int2..int8-g32/64/128, with ,f16 scales", 1 },
	{ "onnx", tq_export_onnx, 1, "a directory: model.onnx and model.onnx.data",
	    "- only: the state's grid (MatMulNBits), a float model's dtype", 0 },
};
#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))

static const export_format *find_format(const char *name);

static const char *format_names[N_FORMATS + 1];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void
names_init(void)
{
	size_t i;

	for (i = 0; i < N_FORMATS; i++)
		format_names[i] = formats[i].name;
	format_names[N_FORMATS] = NULL;
}

const char *const *
tq_export_format_names(void)
{
	pthread_once(&names_once, names_init);
	return format_names;
}

int
tq_export_format_info(const char *name, const char **writes,
    const char **types)
{
	const export_format *f = find_format(name);

	if (f == NULL)
		return 0;
	*writes = f->writes;
	*types = f->types;
	return 1;
}

static const export_format *
find_format(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < N_FORMATS; i++)
		if (strcmp(formats[i].name, name) == 0)
			return &formats[i];
	return NULL;
}

/* The job's context (owned by the job). */
typedef struct export_job {
	const tq_model *base;
	const tq_qstate *state;
	const export_format *fmt;
	char *out;
	char *type;		/* NULL: the state's own grid */
	char *imatrix;		/* NULL: no importance matrix */
	int force;
	tq_export_report report;
} export_job;

static void
export_job_free(void *p)
{
	export_job *e = p;

	if (e == NULL)
		return;
	free(e->out);
	free(e->type);
	free(e->imatrix);
	free(e);
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

/* Removes a file or a directory tree; quiet (cleanup only). */
static void
remove_tree(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) != 0)
		return;
	if (S_ISDIR(sb.st_mode))
		nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	else
		unlink(path);
}

static int
path_exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

/*
 * "<path><suffix>PID-XXXXXX" as a mkstemp/mkdtemp template (malloc'ed):
 * the PID says whose it is when it outlives its process.
 */
static char *
temp_template(const char *path, const char *suffix)
{
	size_t n = strlen(path) + strlen(suffix) + 32;
	char *t = malloc(n);

	if (t != NULL)
		snprintf(t, n, "%s%s%ld-XXXXXX", path, suffix, (long)getpid());
	return t;
}

/*
 * If name is "<base><suffix>PID-..." for a PID that no longer runs: 1.
 * (A PID reused since only keeps the files until the next run.)
 */
static int
stale_temp(const char *name, const char *base, size_t blen,
    const char *suffix)
{
	size_t slen = strlen(suffix);
	char *end;
	long pid;

	if (strncmp(name, base, blen) != 0 ||
	    strncmp(name + blen, suffix, slen) != 0 ||
	    !isdigit((unsigned char)name[blen + slen]))
		return 0;
	errno = 0;
	pid = strtol(name + blen + slen, &end, 10);
	if (errno != 0 || *end != '-' || pid <= 0 || pid == (long)getpid())
		return 0;
	return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Removes what killed exports to out left beside it (see the top). */
static void
remove_stale_temps(const char *out)
{
	const char *slash = strrchr(out, '/'), *base = slash ? slash + 1 : out;
	char *dir = slash ? strndup(out, (size_t)(slash - out)) : strdup(".");
	size_t blen = strlen(base);
	struct dirent *d;
	DIR *dp;

	if (dir == NULL || (dp = opendir(dir[0] ? dir : "/")) == NULL) {
		free(dir);
		return;
	}
	while ((d = readdir(dp)) != NULL) {
		char *p;

		if (!stale_temp(d->d_name, base, blen, ".export-") &&
		    !stale_temp(d->d_name, base, blen, ".old-"))
			continue;
		if ((p = tq_path_join(dir[0] ? dir : "", d->d_name)) != NULL)
			remove_tree(p);
		free(p);
	}
	closedir(dp);
	free(dir);
}

/*
 * The process's umask, read without changing it (umask(2) would race with
 * other threads creating files); 022 where /proc does not say.
 */
static mode_t
current_umask(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	unsigned int u = 022;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Umask: %o", &u) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return (mode_t)u;
}

/*
 * Creates the temporary output (an empty file or directory), with the
 * permissions a plain file or directory would get: mkstemp and mkdtemp
 * make them private.
 */
static tq_status
make_temp(const export_job *e, char **tmp, tq_error *err)
{
	char *t = temp_template(e->out, ".export-");
	int fd;

	*tmp = NULL;
	if (t == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if (e->fmt->is_dir) {
		if (mkdtemp(t) == NULL) {
			int en = errno;

			free(t);
			return tq_fail(err, TQ_EIO, "%s: cannot create a "
			    "temporary directory beside it: %s", e->out,
			    strerror(en));
		}
		(void)chmod(t, 0777 & ~current_umask());
	} else {
		if ((fd = mkstemp(t)) < 0) {
			int en = errno;

			free(t);
			return tq_fail(err, TQ_EIO, "%s: cannot create a "
			    "temporary file beside it: %s", e->out,
			    strerror(en));
		}
		(void)fchmod(fd, 0666 & ~current_umask());
		close(fd);
	}
	*tmp = t;
	return TQ_OK;
}

/*
 * Puts tmp in place of e->out.  Without force an output that appeared in
 * the meantime is not touched (link() refuses an existing name).
 */
static tq_status
install(const export_job *e, const char *tmp, tq_error *err)
{
	char *old = NULL;
	struct stat sb;
	int en;

	if (!e->force) {
		if (!e->fmt->is_dir) {
			if (link(tmp, e->out) == 0) {
				unlink(tmp);
				return TQ_OK;
			}
			en = errno;
			if (en == EEXIST)
				return tq_fail(err, TQ_EINVAL, "%s: already exists "
				    "(use --force to replace it)", e->out);
			if (en != EPERM && en != ENOTSUP && en != EXDEV)
				return tq_fail(err, TQ_EIO, "%s: %s", e->out,
				    strerror(en));
			/* No hard links here: check, then rename. */
		}
		if (path_exists(e->out))
			return tq_fail(err, TQ_EINVAL, "%s: already exists (use "
			    "--force to replace it)", e->out);
		if (rename(tmp, e->out) != 0) {
			en = errno;
			return tq_fail(err, TQ_EIO, "%s: cannot rename %s into "
			    "place: %s", e->out, tmp, strerror(en));
		}
		return TQ_OK;
	}
	/* A file replaces a file atomically; anything else moves aside. */
	if (lstat(e->out, &sb) == 0 && (e->fmt->is_dir || S_ISDIR(sb.st_mode))) {
		if ((old = temp_template(e->out, ".old-")) == NULL)
			return tq_fail(err, TQ_ENOMEM, "out of memory");
		if (mkdtemp(old) == NULL || rmdir(old) != 0 ||
		    rename(e->out, old) != 0) {
			en = errno;
			free(old);
			return tq_fail(err, TQ_EIO, "%s: cannot move the old "
			    "output aside: %s", e->out, strerror(en));
		}
	}
	if (rename(tmp, e->out) != 0) {
		en = errno;
		if (old != NULL) {
			rename(old, e->out);
			free(old);
		}
		return tq_fail(err, TQ_EIO, "%s: cannot rename %s into place: "
		    "%s", e->out, tmp, strerror(en));
	}
	if (old != NULL) {
		remove_tree(old);
		free(old);
	}
	return TQ_OK;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fills the report's files: the output file, or the directory's files. */
static void
list_files(export_job *e)
{
	tq_export_report *r = &e->report;
	struct stat sb;
	char *names[256];
	size_t n = 0, i;
	struct dirent *d;
	DIR *dir;

	r->n_files = 0;
	r->total_bytes = 0;
	if (!e->fmt->is_dir) {
		if (stat(e->out, &sb) == 0) {
			snprintf(r->files[0].path, sizeof(r->files[0].path),
			    "%s", e->out);
			r->files[0].bytes = (uint64_t)sb.st_size;
			r->n_files = 1;
			r->total_bytes = (uint64_t)sb.st_size;
		}
		return;
	}
	if ((dir = opendir(e->out)) == NULL)
		return;
	while ((d = readdir(dir)) != NULL && n < 256) {
		if (d->d_name[0] == '.')
			continue;
		if ((names[n] = strdup(d->d_name)) != NULL)
			n++;
	}
	closedir(dir);
	qsort(names, n, sizeof(names[0]), cmp_name);
	for (i = 0; i < n; i++) {
		char *p = tq_path_join(e->out, names[i]);

		if (p != NULL && stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
			r->total_bytes += (uint64_t)sb.st_size;
			if (r->n_files < TQ_EXPORT_MAX_FILES) {
				tq_export_file *f = &r->files[r->n_files++];

				snprintf(f->path, sizeof(f->path), "%s", p);
				f->bytes = (uint64_t)sb.st_size;
			}
		}
		free(p);
		free(names[i]);
	}
}

static tq_status
export_job_run(tq_job *j, void *ctx, tq_error *err)
{
	export_job *e = ctx;
	tq_model *applied = NULL;
	tq_export_report *copy;
	tq_export_ctx x;
	char *tmp = NULL;
	tq_status st;

	tq_job__stage(j, "export");
	remove_stale_temps(e->out);
	if (e->state != NULL && (st = tq_model_apply_state(e->base, e->state,
	    &applied, err)) != TQ_OK)
		return st;
	if ((st = make_temp(e, &tmp, err)) != TQ_OK)
		goto out;
	memset(&x, 0, sizeof(x));
	x.base = e->base;
	x.model = applied != NULL ? applied : e->base;
	x.state = e->state;
	x.out = tmp;
	x.type = e->type;
	x.imatrix = e->imatrix;
	x.job = j;
	x.report = &e->report;
	/*
	 * Every JSON file of every format: a cJSON allocation that failed on
	 * the way fails the export, which then leaves nothing.
	 */
	x.json_mark = tq_json_begin();
	st = e->fmt->fn(&x, err);
	if (st == TQ_OK)
		st = tq_json_end(x.json_mark, e->out, err);
	if (st == TQ_OK && tq_job__cancelled(j))
		st = tq_fail(err, TQ_ECANCELLED, "cancelled");
	if (st == TQ_OK)
		st = install(e, tmp, err);
	if (st != TQ_OK) {
		remove_tree(tmp);
		goto out;
	}
	list_files(e);
	if ((copy = malloc(sizeof(*copy))) == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "out of memory");
		goto out;
	}
	*copy = e->report;
	tq_job__set_result(j, TQ_RESULT_EXPORT, copy, free);
out:
	free(tmp);
	tq_model_close(applied);
	return st;
}

tq_status
tq_job_export(const tq_model *base, const tq_qstate *s, const char *out_path,
    const tq_export_opts *o, tq_job **out, tq_error *err)
{
	const export_format *fmt;
	export_job *e;
	size_t i, n;
	char list[256];

	*out = NULL;
	if (o != NULL && tq_version_check(o->version, TQ_EXPORT_OPTS_VERSION,
	    "tq_export_opts", "TQ_EXPORT_OPTS_INIT", err) != TQ_OK)
		return TQ_EINVAL;
	if (o == NULL || o->format == NULL)
		return tq_fail(err, TQ_EINVAL, "no export format given");
	if ((fmt = find_format(o->format)) == NULL) {
		list[0] = '\0';
		for (i = 0, n = 0; i < N_FORMATS; i++)
			n += (size_t)snprintf(list + n, n < sizeof(list) ?
			    sizeof(list) - n : 0, "%s%s", i ? ", " : "",
			    formats[i].name);
		return tq_fail(err, TQ_EINVAL, "unknown export format \"%.40s\"; "
		    "available: %s", o->format, list);
	}
	if (out_path == NULL || out_path[0] == '\0')
		return tq_fail(err, TQ_EINVAL, "no output path given");
	if (!o->force && path_exists(out_path))
		return tq_fail(err, TQ_EINVAL, "%s: already exists (use --force "
		    "to replace it)", out_path);
	if (s != NULL && !s->complete)
		return tq_fail(err, TQ_EINVAL, "the quantized state is incomplete "
		    "(resume it first)");
	if (tq_model__moe(base) && !fmt->moe)
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: export of a "
		    "mixture-of-experts model to %s is not implemented",
		    base->path, fmt->name);
	/* the mixture exports know Mixtral's and Qwen3-MoE's experts; gpt_oss
	   adds sinks, biases and its clamped SwiGLU, which only GGUF holds */
	if (tq_model_get_config(base)->arch == TQ_ARCH_GPT_OSS &&
	    strcmp(fmt->name, "gguf") != 0)
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: export of a gpt_oss "
		    "model to %s is not implemented (gguf only)", base->path,
		    fmt->name);
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->out = strdup(out_path)) == NULL ||
	    (o->type != NULL && (e->type = strdup(o->type)) == NULL) ||
	    (o->imatrix != NULL &&
	    (e->imatrix = strdup(o->imatrix)) == NULL)) {
		export_job_free(e);
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	e->base = base;
	e->state = s;
	e->fmt = fmt;
	e->force = o->force;
	snprintf(e->report.format, sizeof(e->report.format), "%s", fmt->name);
	return tq_job__start(export_job_run, e, export_job_free, out, err);
}

const tq_export_report *
tq_job_export_report(const tq_job *j)
{
	return tq_job__result(j, TQ_RESULT_EXPORT);
}
