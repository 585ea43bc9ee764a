/*
 * wb_plan.c: the plan the workbench edits.  It is kept as the engine's
 * JSON plan text: a preset or a file gives the start, and each edit
 * appends one rule (the targets' names or the filter as its pattern)
 * through the engine's rule calls and takes the plan's text again, so
 * what is shown, saved and quantized is always what the engine resolves.
 * Undo and redo are stacks of earlier texts.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb.h"

/* The plan's JSON as the workbench's own string (the stacks free() it). */
static char *
dup_json(const tq_plan *plan)
{
	char *j = tq_plan_to_json(plan), *s;

	if (j == NULL)
		return NULL;
	s = strdup(j);
	tq_string_free(j);
	return s;
}

tq_status
wb_plan_init(wb_plan *p, const char *preset, tq_error *err)
{
	tq_status st;

	memset(p, 0, sizeof(*p));
	if ((st = tq_plan_preset(preset, &p->plan, err)) != TQ_OK)
		return st;
	if ((p->json = dup_json(p->plan)) == NULL ||
	    (p->base = strdup(p->json)) == NULL) {
		free(p->json);
		p->json = NULL;
		tq_plan_free(p->plan);
		p->plan = NULL;
		return (err->status = TQ_ENOMEM);
	}
	snprintf(p->origin, sizeof(p->origin), "preset %s", preset);
	return TQ_OK;
}

static void
free_stack(wb_plan_snap *s, int *n)
{
	while (*n > 0) {
		--*n;
		free(s[*n].json);
		free(s[*n].base);
	}
}

void
wb_plan_free(wb_plan *p)
{
	free(p->json);
	free(p->base);
	tq_plan_free(p->plan);
	free_stack(p->undo, &p->n_undo);
	free_stack(p->redo, &p->n_redo);
}

int
wb_plan_edited(const wb_plan *p)
{
	return p->base == NULL || strcmp(p->json, p->base) != 0;
}

/* Pushes a plan (its texts taken) on a stack, dropping the oldest. */
static void
push(wb_plan_snap *s, int *n, char *json, char *base, const char *origin)
{
	if (*n == WB_UNDO_MAX) {
		free(s[0].json);
		free(s[0].base);
		memmove(s, s + 1, sizeof(*s) * (WB_UNDO_MAX - 1));
		(*n)--;
	}
	s[*n].json = json;
	s[*n].base = base;
	snprintf(s[*n].origin, sizeof(s[*n].origin), "%s", origin);
	(*n)++;
}

/*
 * Makes json (owned, taken) the plan if it parses and fits the model;
 * the old plan goes on the undo stack when undoable.  0 and a message if
 * not.
 */
static int
replace(wb_app *a, char *json, int undoable)
{
	wb_plan *p = &a->plan;
	tq_plan *plan = NULL;
	tq_error err = { TQ_OK, "" };

	if (a->run == WB_RUN_QUANT) {
		/* the job reads the plan until it ends */
		wb_message(a, 1, "the plan is in use: change it after the "
		    "quantization (or cancel it)");
		free(json);
		return 0;
	}
	if (tq_plan_parse(json, strlen(json), "plan", &plan, &err) != TQ_OK ||
	    tq_plan_check(plan, a->model, &err) != TQ_OK) {
		wb_message(a, 1, "%s", err.msg);
		tq_plan_free(plan);
		free(json);
		return 0;
	}
	if (undoable) {
		push(p->undo, &p->n_undo, p->json, p->base != NULL ?
		    strdup(p->base) : NULL, p->origin);
		free_stack(p->redo, &p->n_redo);
	} else {
		free(p->json);
	}
	p->json = json;
	tq_plan_free(p->plan);
	p->plan = plan;
	p->dirty = 1;
	wb_browser_resolve(a);
	wb_browser_refilter(a);
	return 1;
}

/* The plan as it is now is its new origin's, named name. */
static void
set_origin(wb_plan *p, const char *name)
{
	snprintf(p->origin, sizeof(p->origin), "%s", name);
	free(p->base);
	p->base = strdup(p->json);
}

/* Replaces the plan by one the engine made (taken), undoably. */
static int
adopt(wb_app *a, tq_status st, tq_plan **plan, const tq_error *err)
{
	char *json;

	if (st != TQ_OK) {
		wb_message(a, 1, "%s", err->msg);
		return 0;
	}
	json = dup_json(*plan);
	tq_plan_free(*plan);
	return json != NULL && replace(a, json, 1);
}

int
wb_plan_preset(wb_app *a, const char *name)
{
	tq_plan *plan = NULL;
	tq_error err = { TQ_OK, "" };

	char origin[96];

	if (!adopt(a, tq_plan_preset(name, &plan, &err), &plan, &err))
		return 0;
	snprintf(origin, sizeof(origin), "preset %.80s", name);
	set_origin(&a->plan, origin);
	wb_message(a, 0, "plan: preset %s", name);
	return 1;
}

int
wb_plan_load(wb_app *a, const char *path)
{
	tq_plan *plan = NULL;
	tq_error err = { TQ_OK, "" };

	char origin[96];

	if (!adopt(a, tq_plan_load(path, &plan, &err), &plan, &err))
		return 0;
	snprintf(origin, sizeof(origin), "file %.85s", path);
	set_origin(&a->plan, origin);
	snprintf(a->plan.path, sizeof(a->plan.path), "%s", path);
	a->plan.dirty = 0;
	wb_message(a, 0, "plan loaded from %s", path);
	wb_log(a, "plan loaded from %s", path);
	return 1;
}

int
wb_plan_save(wb_app *a, const char *path)
{
	tq_error err = { TQ_OK, "" };

	if (tq_plan_save(a->plan.plan, path, &err) != TQ_OK) {
		wb_message(a, 1, "%s", err.msg);
		return 0;
	}
	snprintf(a->plan.path, sizeof(a->plan.path), "%s", path);
	a->plan.dirty = 0;
	wb_message(a, 0, "plan saved to %s", path);
	wb_log(a, "plan saved to %s", path);
	return 1;
}

/* Moves the plan one step along undo (from) and redo (to) or back. */
static int
step(wb_app *a, wb_plan_snap *from, int *n_from, wb_plan_snap *to,
    int *n_to, const char *what)
{
	wb_plan *p = &a->plan;
	wb_plan_snap *f;
	char *json, *cur, *cur_base;
	char cur_origin[96];

	if (*n_from == 0) {
		wb_message(a, 0, "nothing to %s", what);
		return 0;
	}
	f = &from[*n_from - 1];
	/* copies, so that a refused step leaves both stacks as they were */
	if ((cur = strdup(p->json)) == NULL)
		return 0;
	json = strdup(f->json);
	if (json == NULL || !replace(a, json, 0)) {
		free(cur);
		return 0;	/* replace said why */
	}
	/* the plan is the one stepped to, with its origin */
	cur_base = p->base;
	snprintf(cur_origin, sizeof(cur_origin), "%s", p->origin);
	p->base = f->base;
	snprintf(p->origin, sizeof(p->origin), "%s", f->origin);
	free(f->json);
	--*n_from;
	push(to, n_to, cur, cur_base, cur_origin);
	wb_message(a, 0, "%s (%d more)", strcmp(what, "undo") == 0 ?
	    "undone" : "redone", *n_from);
	return 1;
}

int
wb_plan_undo(wb_app *a)
{
	return step(a, a->plan.undo, &a->plan.n_undo, a->plan.redo,
	    &a->plan.n_redo, "undo");
}

int
wb_plan_redo(wb_app *a)
{
	return step(a, a->plan.redo, &a->plan.n_redo, a->plan.undo,
	    &a->plan.n_undo, "redo");
}

/* Appends s to buf with the PCRE2 metacharacters escaped. */
static size_t
escape(char *buf, size_t n, size_t len, const char *s)
{
	for (; *s != '\0' && n + 2 < len; s++) {
		if (strchr("\\^$.|?*+()[]{}", *s) != NULL)
			buf[n++] = '\\';
		buf[n++] = *s;
	}
	buf[n] = '\0';
	return n;
}

/*
 * The pattern naming the targets: the filter itself when the targets are
 * exactly the rows it shows, else the names joined.  NULL if none or too
 * long.
 */
static char *
target_pattern(wb_app *a, const wb_row **first, int *count)
{
	size_t i, n = 0, len = 65536, marked = 0, shown_marked = 0;
	char *buf;

	*first = NULL;
	*count = 0;
	for (i = 0; i < a->n_rows; i++)
		marked += a->rows[i].marked;
	for (i = 0; i < a->n_view; i++)
		shown_marked += a->rows[a->view[i]].marked;
	if (marked == 0) {
		const wb_row *r = wb_browser_current(a);

		if (r == NULL)
			return NULL;
		*first = r;
		*count = 1;
		if ((buf = malloc(len)) == NULL)
			return NULL;
		buf[0] = '^';
		n = escape(buf, 1, len, r->name);
		snprintf(buf + n, len - n, "$");
		return buf;
	}
	*count = (int)marked;
	for (i = 0; i < a->n_rows && *first == NULL; i++)
		if (a->rows[i].marked)
			*first = &a->rows[i];
	if (a->filter[0] != '\0' && marked == shown_marked &&
	    shown_marked == a->n_view && a->filter_on_names)
		return strdup(a->filter);
	if ((buf = malloc(len)) == NULL)
		return NULL;
	n = (size_t)snprintf(buf, len, "^(?:");
	for (i = 0; i < a->n_rows; i++) {
		if (!a->rows[i].marked)
			continue;
		if (n > 5 && n + 1 < len)
			buf[n++] = '|';
		n = escape(buf, n, len, a->rows[i].name);
	}
	if (n + 3 >= len) {
		free(buf);
		return NULL;
	}
	snprintf(buf + n, len - n, ")$");
	return buf;
}

static const int bit_steps[] = { 2, 3, 4, 5, 6, 8 };
static const int group_steps[] = { TQ_GROUP_CHANNEL, 32, 64, 128, 256,
	TQ_GROUP_TENSOR };

/* The next setting after c for `what`; 0 if what is unknown. */
static int
next_cfg(tq_layer_cfg *c, const char *what, const char *value, wb_app *a)
{
	tq_error err = { TQ_OK, "" };
	size_t i, n;

	if (c->method == TQ_METHOD_FLOAT && strcmp(what, "set") != 0 &&
	    strcmp(what, "method") != 0) {
		/* a float layer takes the common default before the change */
		c->method = TQ_METHOD_RTN;
		tq_scheme_parse("int4-g128", &c->scheme, &err);
	}
	if (strcmp(what, "method") == 0) {
		c->method = (tq_method)((c->method + 1) % TQ_METHOD_COUNT);
		if (c->method != TQ_METHOD_FLOAT && c->scheme.bits == 0)
			tq_scheme_parse("int4-g128", &c->scheme, &err);
		if (c->method == TQ_METHOD_SMOOTHQUANT)
			tq_scheme_parse("int8", &c->scheme, &err);
	} else if (strcmp(what, "bits") == 0) {
		if (c->scheme.type != TQ_QT_INT) {
			tq_scheme_parse("int4-g128", &c->scheme, &err);
		} else {
			n = sizeof(bit_steps) / sizeof(bit_steps[0]);
			for (i = 0; i < n && bit_steps[i] != c->scheme.bits; i++)
				;
			c->scheme.bits = bit_steps[(i + 1) % n];
		}
	} else if (strcmp(what, "group") == 0) {
		if (c->scheme.type != TQ_QT_INT) {
			tq_scheme_parse("int4-g128", &c->scheme, &err);
		} else {
			n = sizeof(group_steps) / sizeof(group_steps[0]);
			for (i = 0; i < n && group_steps[i] != c->scheme.group;
			    i++)
				;
			c->scheme.group = group_steps[(i + 1) % n];
		}
	} else if (strcmp(what, "sym") == 0) {
		if (c->scheme.type != TQ_QT_INT) {
			wb_message(a, 1, "symmetry is for integer grids only");
			return 0;
		}
		c->scheme.sym = !c->scheme.sym;
	} else if (strcmp(what, "set") == 0) {
		char m[32] = "", s[64] = "";
		tq_method method;
		int k = sscanf(value, "%31s %63s", m, s);

		if (k == 2) {
			if (tq_method_parse(m, &method, &err) != TQ_OK ||
			    tq_scheme_parse(s, &c->scheme, &err) != TQ_OK) {
				wb_message(a, 1, "%s", err.msg);
				return 0;
			}
			c->method = method;
		} else if (k == 1 && tq_method_parse(m, &method, &err) ==
		    TQ_OK) {
			c->method = method;
			if (method != TQ_METHOD_FLOAT && c->scheme.bits == 0)
				tq_scheme_parse("int4-g128", &c->scheme, &err);
		} else if (k == 1) {
			if (tq_scheme_parse(m, &c->scheme, &err) != TQ_OK) {
				wb_message(a, 1, "%s", err.msg);
				return 0;
			}
			if (c->method == TQ_METHOD_FLOAT)
				c->method = TQ_METHOD_RTN;
		} else {
			wb_message(a, 1, "say METHOD SCHEME, e.g. gptq "
			    "int4-g128");
			return 0;
		}
	} else {
		return 0;
	}
	return 1;
}

/*
 * Drops the rules on pattern pat that give only method and scheme (the
 * new rule overrides them whole) and appends the rule for c.
 */
static tq_status
put_rule(tq_plan *plan, const char *pat, const tq_layer_cfg *c,
    tq_error *err)
{
	tq_plan_rule r;
	size_t i;
	tq_status st;

	for (i = tq_plan_n_rules(plan); i-- > 0;) {
		if ((st = tq_plan_get_rule(plan, i, &r, err)) != TQ_OK)
			return st;
		if (strcmp(r.match, pat) == 0 && (r.mask &
		    ~(TQ_PLAN_SET_METHOD | TQ_PLAN_SET_SCHEME)) == 0 &&
		    (st = tq_plan_remove_rule(plan, i, err)) != TQ_OK)
			return st;
	}
	memset(&r, 0, sizeof(r));
	r.match = pat;
	r.cfg = *c;
	r.mask = TQ_PLAN_SET_METHOD;
	if (c->method != TQ_METHOD_FLOAT)
		r.mask |= TQ_PLAN_SET_SCHEME;
	return tq_plan_insert_rule(plan, tq_plan_n_rules(plan), &r, err);
}

int
wb_plan_edit(wb_app *a, const char *what, const char *value)
{
	const wb_row *first;
	tq_layer_cfg c;
	tq_plan *plan = NULL;
	tq_error err = { TQ_OK, "" };
	char *pat, *json = NULL, sch[32];
	int count;

	if ((pat = target_pattern(a, &first, &count)) == NULL) {
		wb_message(a, 1, "no layer to change");
		return 0;
	}
	c = first->cfg;
	if (!next_cfg(&c, what, value, a)) {
		free(pat);
		return 0;
	}
	/* edit a copy: replace() takes the text only if the model fits it */
	if (tq_plan_parse(a->plan.json, strlen(a->plan.json), "plan", &plan,
	    &err) != TQ_OK || put_rule(plan, pat, &c, &err) != TQ_OK) {
		wb_message(a, 1, "%s", err.msg);
		tq_plan_free(plan);
		free(pat);
		return 0;
	}
	json = dup_json(plan);
	tq_plan_free(plan);
	free(pat);
	if (json == NULL || !replace(a, json, 1))
		return 0;
	tq_scheme_name(&c.scheme, sch, sizeof(sch));
	if (c.method == TQ_METHOD_FLOAT)
		wb_message(a, 0, "%d layer%s -> float", count, count == 1 ?
		    "" : "s");
	else
		wb_message(a, 0, "%d layer%s -> %s %s", count, count == 1 ?
		    "" : "s", tq_method_name(c.method), sch);
	return 1;
}

int
wb_plan_set(wb_app *a, tq_plan *plan, const char *origin)
{
	if (!adopt(a, TQ_OK, &plan, NULL))
		return 0;
	set_origin(&a->plan, origin);
	return 1;
}
