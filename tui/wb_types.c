/*
 * wb_types.c: the scheme picker (T).  A box over the body lists every grid
 * the engine has, grouped (integer groups, GGUF blocks, i-quants, FP4/FP8
 * microscaling), each with its bits per weight on the current layer's
 * shape; Enter sets the targets' scheme as `=` SCHEME does, after the
 * engine's own checks (the shape here, the plan's when it is replaced).
 * The fixed-block types come from the engine's table, so a type added
 * there appears here by itself; the parametric ones are listed below.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <curses.h>

#include "wb.h"

/* The parametric schemes shown: one or a few of each family. */
static const char *const parametric[] = {
	"int8", "int4-g128", "int4-g64", "int3-g128", "int2-g64", "nf4",
	"fp8", "fp8-channel", "fp8-block128", "mxfp8"
};
#define N_PARAMETRIC (sizeof(parametric) / sizeof(parametric[0]))

enum { G_INT, G_GGUF, G_IQ, G_FP, G_COUNT };
static const char *const group_title[G_COUNT] = {
	"integer groups", "GGUF blocks", "i-quants",
	"FP4/FP8 microscaling"
};

#define TYPES_MAX 64

/* The group of a scheme, from its name. */
static int
group_of(const char *name)
{
	if (strncmp(name, "int", 3) == 0 || strncmp(name, "nf4", 3) == 0)
		return G_INT;
	if (strncmp(name, "iq", 2) == 0)
		return G_IQ;
	if (name[0] == 'q')
		return G_GGUF;
	return G_FP;
}

/*
 * The picker's lines in order: a group's title (name NULL, its group in
 * *grp) or a scheme's name.  Returns the count.
 */
static size_t
lines(const char **name, int *grp, size_t max)
{
	const char *s;
	size_t n = 0, i;
	int g;

	for (g = 0; g < G_COUNT; g++) {
		if (n < max) {
			name[n] = NULL;
			grp[n++] = g;
		}
		for (i = 0; i < N_PARAMETRIC && n < max; i++)
			if (group_of(parametric[i]) == g) {
				name[n] = parametric[i];
				grp[n++] = g;
			}
		for (i = 0; (s = tq_scheme_table_name(i)) != NULL && n < max;
		    i++)
			if (group_of(s) == g) {
				name[n] = s;
				grp[n++] = g;
			}
	}
	return n;
}

void
wb_types_open(wb_app *a, int key)
{
	const char *name[TYPES_MAX];
	int grp[TYPES_MAX];
	const wb_row *r = wb_browser_current(a);
	char cur[32] = "";
	size_t i, n = lines(name, grp, TYPES_MAX);

	(void)key;
	if (r == NULL) {
		wb_message(a, 1, "no layer to change");
		return;
	}
	if (r->cfg.method != TQ_METHOD_FLOAT)
		tq_scheme_name(&r->cfg.scheme, cur, sizeof(cur));
	/* on the layer's scheme, else the first one */
	a->types_cur = 1;
	for (i = 0; i < n; i++)
		if (name[i] != NULL && strcmp(name[i], cur) == 0)
			a->types_cur = (int)i;
	a->types = 1;
	a->dirty = 1;
}

void
wb_types_draw(wb_app *a)
{
	const char *name[TYPES_MAX];
	int grp[TYPES_MAX];
	const wb_row *r = wb_browser_current(a);
	size_t n = lines(name, grp, TYPES_MAX);
	int w = 58, h = LINES - 4, x0, y, i, top, inner;
	char buf[160], cur[32] = "";

	if (r == NULL || h < 5 || COLS < w + 2)
		return;
	if (h > (int)n + 2)
		h = (int)n + 2;
	inner = h - 2;
	x0 = (COLS - w) / 2;
	/* the cursor's line in view, its group's title too when it fits */
	top = a->types_cur - inner / 2;
	if (top > (int)n - inner)
		top = (int)n - inner;
	if (top < 0)
		top = 0;
	if (r->cfg.method != TQ_METHOD_FLOAT)
		tq_scheme_name(&r->cfg.scheme, cur, sizeof(cur));
	for (y = 0; y < h; y++)
		wb_text(1 + y, x0, w, 1, "");
	attron(wb_attr(WB_C_DIM) & ~A_DIM);
	mvaddch(1, x0, ACS_ULCORNER);
	mvaddch(h, x0, ACS_LLCORNER);
	mvaddch(1, x0 + w - 1, ACS_URCORNER);
	mvaddch(h, x0 + w - 1, ACS_LRCORNER);
	for (i = 1; i < w - 1; i++) {
		mvaddch(1, x0 + i, ACS_HLINE);
		mvaddch(h, x0 + i, ACS_HLINE);
	}
	for (y = 2; y < h; y++) {
		mvaddch(y, x0, ACS_VLINE);
		mvaddch(y, x0 + w - 1, ACS_VLINE);
	}
	attroff(wb_attr(WB_C_DIM) & ~A_DIM);
	snprintf(buf, sizeof(buf), " scheme for %s [%lld, %lld] ",
	    r->shortname, (long long)r->rows, (long long)r->cols);
	attron(wb_attr(WB_C_TITLE));
	wb_text(1, x0 + 2, w - 4, 0, buf);
	attroff(wb_attr(WB_C_TITLE));
	for (i = 0; i < inner && top + i < (int)n; i++) {
		size_t k = (size_t)(top + i);
		tq_scheme s;
		tq_error err = { TQ_OK, "" };
		int fits, mark;

		y = 2 + i;
		if (name[k] == NULL) {
			attron(wb_attr(WB_C_HEADER));
			wb_text(y, x0 + 2, w - 4, 0, group_title[grp[k]]);
			attroff(wb_attr(WB_C_HEADER));
			continue;
		}
		if (tq_scheme_parse(name[k], &s, &err) != TQ_OK)
			continue;
		fits = tq_scheme_check(&s, r->rows, r->cols, &err) == TQ_OK;
		/* > marks the cursor without colours too */
		mark = (int)k == a->types_cur ? '>' : ' ';
		if (fits)
			snprintf(buf, sizeof(buf), "%c %-13s %5.2f bpw%s",
			    mark, name[k], tq_scheme_bpw(&s, r->rows,
			    r->cols), strcmp(name[k], cur) == 0 ? "  (now)" :
			    "");
		else
			snprintf(buf, sizeof(buf), "%c %-13s  does not fit "
			    "%lld columns", mark, name[k], (long long)r->cols);
		if ((int)k == a->types_cur)
			attron(wb_attr(WB_C_CURSOR));
		else if (!fits)
			attron(wb_attr(WB_C_DIM));
		wb_text(y, x0 + 2, w - 4, 1, buf);
		attroff(wb_attr(WB_C_CURSOR) | wb_attr(WB_C_DIM));
	}
}

/* j k and the ends move among the schemes, over the groups' titles. */
static void
press_move(wb_app *a, int key)
{
	const char *name[TYPES_MAX];
	int grp[TYPES_MAX];
	int n = (int)lines(name, grp, TYPES_MAX), c = a->types_cur, d;

	if (key == 'g' || key == KEY_HOME) {
		c = -1;
		d = 1;
	} else if (key == 'G' || key == KEY_END) {
		c = n;
		d = -1;
	} else {
		d = key == 'j' || key == KEY_DOWN ? 1 : -1;
	}
	for (c += d; c >= 0 && c < n && name[c] == NULL; c += d)
		;
	if (c >= 0 && c < n)
		a->types_cur = c;
}

static void
press_close(wb_app *a, int key)
{
	(void)key;
	a->types = 0;
}

/*
 * Enter: the scheme for the targets, refused here when a target's shape
 * cannot take it (the engine's check and message); the plan's own check
 * (an i-quant without its importance matrix...) refuses it when the plan
 * is replaced.
 */
static void
press_apply(wb_app *a, int key)
{
	const char *name[TYPES_MAX];
	int grp[TYPES_MAX];
	size_t i, n = lines(name, grp, TYPES_MAX), marked = 0;
	const wb_row *r = wb_browser_current(a), *bad = NULL;
	tq_scheme s;
	tq_error err = { TQ_OK, "" };
	const char *why;
	int held;
	char msg[256];

	(void)key;
	a->types = 0;
	if (a->types_cur < 0 || (size_t)a->types_cur >= n ||
	    name[a->types_cur] == NULL || r == NULL)
		return;
	if (tq_scheme_parse(name[a->types_cur], &s, &err) != TQ_OK) {
		wb_message(a, 1, "%s", err.msg);
		return;
	}
	/* the targets as wb_plan_edit takes them: a folded row's layers */
	held = wb_browser_mark_group(a, 1);
	for (i = 0; i < a->n_rows; i++)
		marked += a->rows[i].marked;
	for (i = 0; i < a->n_rows && bad == NULL; i++) {
		const wb_row *t = &a->rows[i];

		if ((marked > 0 ? t->marked : t == r) &&
		    tq_scheme_check(&s, t->rows, t->cols, &err) != TQ_OK)
			bad = t;
	}
	if (held)
		wb_browser_mark_group(a, 0);
	if (bad != NULL) {
		wb_message(a, 1, "%s: %s", bad->shortname, err.msg);
		return;
	}
	if (wb_plan_edit(a, "set", name[a->types_cur]))
		return;
	/*
	 * The plan's check names the layer and the rule before its reason,
	 * which a message line cuts off: the reason there, all in the log.
	 */
	wb_log(a, "%s", a->message);
	if ((why = strstr(a->message, "(scheme from ")) != NULL &&
	    (why = strstr(why, "): ")) != NULL) {
		snprintf(msg, sizeof(msg), "%s", why + 3);
		wb_message(a, 1, "refused (in full on 3): %s", msg);
	}
}

static const wb_key keys[] = {
	{ { 'j', KEY_DOWN }, press_move, "next scheme", "move", WB_ALWAYS },
	{ { 'k', KEY_UP }, press_move, "previous scheme", "move",
	    WB_ALWAYS },
	{ { 'g', KEY_HOME, 'G', KEY_END }, press_move, "the first / the last "
	    "scheme", NULL, WB_ALWAYS },
	{ { '\r', '\n', KEY_ENTER }, press_apply, "set the scheme of the "
	    "marked layers (or the current one), keeping their method; "
	    "refused, with the engine's reason, when a layer cannot take it",
	    "apply", WB_ALWAYS },
	{ { WB_KEY_ESC, 'q', 'T' }, press_close, "close without a change",
	    "cancel", WB_ALWAYS },
};

const wb_keymap wb_types_keymap = {
	"Scheme picker (T)", keys, WB_NKEYS(keys), NULL
};

void
wb_types_key(wb_app *a, int key)
{
	wb_keys_run(a, &wb_types_keymap, key);
}
