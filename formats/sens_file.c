/*
 * sens_file.c: sensitivity tables as JSON, so the optimizer can run again
 * (as a person drags a budget) without calibrating again.
 *
 *   {"format": "turboquant-sensitivity", "version": 1, "model": PATH,
 *    "n_layers": BLOCKS, "calib_tokens": N, "probe_tokens": P,
 *    "probe": MENU-ENTRY or null, "menu": [ENTRY, ...],
 *    "per_expert": BOOL (a mixture of experts' entries; absent: false),
 *    "layers": [{"name": NAME, "params": ROWS*COLS, "coef": C,
 *                "probe_kld": K, "rel_err": [...], "bpw": [...]}, ...]}
 *
 * Numbers carry 17 digits; a setting that does not fit a layer is null.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "error.h"
#include "fileio.h"
#include "model.h"
#include "sens.h"

#define SENS_FORMAT "turboquant-sensitivity"
#define SENS_VERSION 1
#define SENS_MAX_BYTES ((size_t)256 << 20)

tq_status
tq_sens_save(const tq_sens *s, const char *path, tq_error *err)
{
	unsigned long mark = tq_json_begin();
	cJSON *root, *menu, *layers;
	size_t l, k;
	tq_status st;

	root = tq_json_doc(SENS_FORMAT, SENS_VERSION, s->model_path,
	    s->model_layers);
	if (root == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	cJSON_AddNumberToObject(root, "calib_tokens", (double)s->calib_tokens);
	cJSON_AddNumberToObject(root, "probe_tokens", (double)s->probe_tokens);
	cJSON_AddBoolToObject(root, "per_expert", s->per_expert);
	if (s->probe_menu >= 0)
		cJSON_AddStringToObject(root, "probe",
		    s->menu[s->probe_menu].name);
	else
		cJSON_AddNullToObject(root, "probe");
	menu = cJSON_AddArrayToObject(root, "menu");
	for (k = 0; menu != NULL && k < s->n_menu; k++)
		tq_json_push(menu, cJSON_CreateString(s->menu[k].name));
	layers = cJSON_AddArrayToObject(root, "layers");
	for (l = 0; layers != NULL && l < s->n; l++) {
		cJSON *o = cJSON_CreateObject(), *e, *b;

		if (!tq_json_push(layers, o))
			break;
		cJSON_AddStringToObject(o, "name", s->names[l]);
		cJSON_AddNumberToObject(o, "params", (double)s->params[l]);
		tq_json_add(o, "coef", tq_json_num(s->coef[l]));
		tq_json_add(o, "probe_kld",
		    tq_json_num(s->probe_kld[l]));
		e = cJSON_AddArrayToObject(o, "rel_err");
		b = cJSON_AddArrayToObject(o, "bpw");
		for (k = 0; e != NULL && b != NULL && k < s->n_menu; k++) {
			tq_json_push(e,
			    tq_json_num(s->err[l * s->n_menu + k]));
			tq_json_push(b,
			    tq_json_num(s->bpw[l * s->n_menu + k]));
		}
	}
	st = tq_json_save(root, mark, path, err);
	cJSON_Delete(root);
	return st;
}

/* A number or null (NaN); anything else is an error. */
static int
sens_num(const cJSON *v, double *out)
{
	if (cJSON_IsNull(v)) {
		*out = NAN;
		return 1;
	}
	if (!cJSON_IsNumber(v))
		return 0;
	*out = v->valuedouble;
	return 1;
}

tq_status
tq_sens_load(const char *path, const tq_model *m, tq_sens **out,
    tq_error *err)
{
	const cJSON *fmt, *menu, *layers, *it;
	cJSON *root = NULL;
	tq_sens_opt *opts = NULL;
	tq_sens *s = NULL;
	size_t n_menu, k, l;
	double v;
	tq_status st;

	*out = NULL;
	if ((st = tq_json_load(path, SENS_MAX_BYTES, &root, err)) != TQ_OK)
		return st;
	fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
	menu = cJSON_GetObjectItemCaseSensitive(root, "menu");
	layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
	if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, SENS_FORMAT) != 0 ||
	    !cJSON_IsArray(menu) || !cJSON_IsArray(layers)) {
		st = tq_fail(err, TQ_EFORMAT, "%s: not a TurboQuant sensitivity "
		    "file", path);
		goto out;
	}
	n_menu = (size_t)cJSON_GetArraySize(menu);
	if (n_menu == 0 || n_menu > 4096 ||
	    (opts = calloc(n_menu, sizeof(*opts))) == NULL) {
		st = n_menu == 0 || n_menu > 4096 ? tq_fail(err, TQ_EFORMAT,
		    "%s: the menu has %zu entries", path, n_menu) :
		    tq_fail(err, TQ_ENOMEM, "out of memory");
		goto out;
	}
	k = 0;
	cJSON_ArrayForEach(it, menu) {
		tq_error e2;

		if (!cJSON_IsString(it) ||
		    tq_sens__parse_opt(it->valuestring, &opts[k], &e2) != TQ_OK) {
			st = tq_fail(err, TQ_EFORMAT, "%s: menu entry %zu: %s", path,
			    k, cJSON_IsString(it) ? e2.msg : "not a string");
			goto out;
		}
		k++;
	}
	if ((st = tq_sens__new(m, opts, n_menu, cJSON_IsTrue(
	    cJSON_GetObjectItemCaseSensitive(root, "per_expert")), &s,
	    err)) != TQ_OK)
		goto out;
	if ((size_t)cJSON_GetArraySize(layers) != s->n) {
		st = tq_fail(err, TQ_EFORMAT, "%s: has %d layers, the model %zu",
		    path, cJSON_GetArraySize(layers), s->n);
		goto out;
	}
	l = 0;
	cJSON_ArrayForEach(it, layers) {
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(it, "rel_err");
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(it, "bpw");
		const cJSON *x;

		if (!cJSON_IsString(nm) || strcmp(nm->valuestring,
		    s->names[l]) != 0 || !cJSON_IsArray(e) || !cJSON_IsArray(b) ||
		    (size_t)cJSON_GetArraySize(e) != n_menu ||
		    (size_t)cJSON_GetArraySize(b) != n_menu ||
		    !sens_num(cJSON_GetObjectItemCaseSensitive(it, "coef"),
		    &s->coef[l]) ||
		    !sens_num(cJSON_GetObjectItemCaseSensitive(it, "probe_kld"),
		    &s->probe_kld[l])) {
			st = tq_fail(err, TQ_EFORMAT, "%s: layer %zu does not fit "
			    "this model (%s)", path, l, s->names[l]);
			goto out;
		}
		k = 0;
		cJSON_ArrayForEach(x, e) {
			if (!sens_num(x, &v) || (!isnan(v) && v < 0.0))
				break;
			s->err[l * n_menu + k++] = v;
		}
		if (k == n_menu) {
			k = 0;
			cJSON_ArrayForEach(x, b) {
				/* The shape decides the bits; they must agree. */
				if (!sens_num(x, &v) || isnan(v) !=
				    isnan(s->bpw[l * n_menu + k]) || (!isnan(v) &&
				    fabs(v - s->bpw[l * n_menu + k]) > 1e-9))
					break;
				k++;
			}
		}
		if (k != n_menu) {
			st = tq_fail(err, TQ_EFORMAT, "%s: %s: bad error or bits "
			    "per weight entries", path, s->names[l]);
			goto out;
		}
		l++;
	}
	it = cJSON_GetObjectItemCaseSensitive(root, "probe");
	s->probe_menu = -1;
	for (k = 0; cJSON_IsString(it) && k < n_menu; k++)
		if (strcmp(it->valuestring, s->menu[k].name) == 0)
			s->probe_menu = (int64_t)k;
	if (sens_num(cJSON_GetObjectItemCaseSensitive(root, "probe_tokens"),
	    &v) && !isnan(v))
		s->probe_tokens = (int64_t)v;
	if (sens_num(cJSON_GetObjectItemCaseSensitive(root, "calib_tokens"),
	    &v) && !isnan(v))
		s->calib_tokens = (int64_t)v;
	*out = s;
	s = NULL;
	st = TQ_OK;
out:
	tq_sens_free(s);
	free(opts);
	cJSON_Delete(root);
	return st;
}
