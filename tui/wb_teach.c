/*
 * wb_teach.c: teaching mode, on the real weights of the current layer.
 *
 * The index lists the lessons (the table `lessons`, below), what each
 * needs and the layer of the model that shows its effect best;
 *
 *   group     one group of 32 weights quantized to int4 step by step:
 *             values and the group as points on the grid's number line,
 *             range, scale and zero point, codes, dequantized values,
 *             error (n advances a step), all 32 in sight at 80x24;
 *   granul.   the same row under one scale per tensor, per row and per
 *             group of 128 and 32, with each one's error and cost;
 *   meta      what the scales cost: their count, bits and bytes per
 *             tensor, row, g128, g64 and g32, from tq_scheme_bpw;
 *   K-quants  q4_k_m's type of every layer (the engine's preset, resolved
 *             on the model), and the layer under each K-quant type;
 *   MX        the group on int4-g32's, mxfp4's and nvfp4's grids, then
 *             the layer on each;
 *   GPTQ      GPTQ against RTN on the first 12 columns of one row, a
 *             column per key press: each column is rounded, and its error,
 *             scaled through the Cholesky factor of H^-1 (H = X^T X of the
 *             layer's real inputs on a calibration sample, restricted to
 *             these columns), is taken off the columns not yet rounded;
 *             the output error ||(w - q) X||^2 / ||w X||^2 on those inputs
 *             is shown for both.  The steps are the engine's GPTQ run on
 *             those 12 columns as a row of their own (tq_gptq_trace_row);
 *   AWQ       AWQ on the current layer: its salient input channels (the
 *             largest mean |x| of the calibration), the scales
 *             s = mean|x|^alpha for alpha 0 to 1, and the output error of
 *             RTN on int4-g128 with each (alpha 0 is plain RTN), on H of
 *             the layer's inputs as in the GPTQ lesson, both by the
 *             engine's search (tq_awq_trace_layer).  The engine searches
 *             20 alphas over the layers sharing the input (core/awq.c);
 *   side by side  Enter quantizes the layer alone with RTN, GPTQ and
 *             AWQ at g128 and g64 (six engine jobs in turn) and sets
 *             their bytes against their output error;
 *   domain    domain mismatch: Enter runs six engine jobs in turn
 *             (calibrate on prose and on code, quantize the same plan
 *             with each, validate both against the fp model on a slice
 *             of a prose and of a code test text) and the table puts
 *             perplexity, KLD and top-token agreement side by side.
 *
 * The numbers are the engine's (tq_quant_view, tq_scheme_bpw,
 * tq_site_hessian and the traces); what is computed here is only counting,
 * sums and ratios of them, and the number line's columns.  The scale is rounded to
 * fp16 as exported checkpoints store it, so a hand computation from the
 * shown min and max can differ in the last digits.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include "wb.h"
#include "wb_teach.h"

wbt_weights teach_w;

static int
load(wb_app *a, const wb_row *r)
{
	teach_w.w = wb_row_weight(a, r);
	teach_w.rows = r->rows;
	teach_w.cols = r->cols;
	return teach_w.w != NULL;
}

/* ---- The lessons and their index --------------------------------------- */

enum {
	L_GROUP, L_GRAN, L_META, L_KQ, L_MX, L_GPTQ, L_AWQ, L_TRADE, L_DOMAIN,
	N_LESSONS
};

static void
draw_domain(wb_app *a, const wb_row *r, int y, int y1)
{
	(void)a;
	(void)r;
	wbt_lesson_domain(y, y1);
}

static const struct lesson {
	const char *title;
	const char *needs;	/* for the index */
	int last;		/* the last step (n stops there) */
	int uses_row;		/* draws the current layer's weight */
	void (*draw)(wb_app *a, const wb_row *r, int y, int y1);
	long (*pick)(wb_app *a, char *why, size_t len);	/* its layer */
} lessons[N_LESSONS] = {
	{ "one group, step by step", "weights", STEPS - 1, 1, wbt_lesson_group,
	    wbt_pick_group },
	{ "per tensor, per channel, per group", "weights", 0, 1,
	    wbt_lesson_granularity, wbt_pick_range },
	{ "what the scales cost, in bytes", "weights", 2, 1, wbt_lesson_meta,
	    wbt_pick_narrow },
	{ "K-quants: bit widths mixed in a model", "weights", 1, 1,
	    wbt_lesson_kquant, wbt_pick_kquant },
	{ "microscaling floats: mxfp4, nvfp4", "weights", MX_N, 1, wbt_lesson_mx,
	    wbt_pick_group },
	{ "GPTQ against RTN, column by column", "a calibration", GB, 1,
	    wbt_lesson_gptq, wbt_pick_gptq },
	{ "AWQ: scaling the salient channels", "a calibration",
	    AWQ_STEPS - 1, 1, wbt_lesson_awq, wbt_pick_awq },
	{ "GPTQ or AWQ, g64 or g128, side by side", "a calibration", 0, 1,
	    wbt_lesson_trade, wbt_pick_awq },
	{ "domain mismatch: prose against code", "the corpora", 0, 0,
	    draw_domain, wbt_pick_none },
};

static struct {
	int open;		/* the index is shown */
	int sel;		/* its lesson under the cursor */
} ix = { 1, 0 };

static void
draw_index(wb_app *a, int y, int y1)
{
	char why[128];
	int k, two = y1 - y >= 2 * N_LESSONS;
	long p;

	for (k = 0; k < N_LESSONS && y < y1; k++) {
		p = lessons[k].pick(a, why, sizeof(why));
		if (k == ix.sel)
			attron(wb_attr(WB_C_CURSOR));
		wb_textf(y++, 1, COLS - 2, "%c%d %-38s needs %s", k == ix.sel ?
		    '>' : ' ', k + 1, lessons[k].title, lessons[k].needs);
		attroff(wb_attr(WB_C_CURSOR));
		if (!two)
			continue;
		attron(wb_attr(WB_C_DIM));
		if (p >= 0)
			wb_textf(y++, 1, COLS - 2, "    try %s: %s",
			    a->rows[p].shortname, why);
		else
			wb_textf(y++, 1, COLS - 2, "    %s", why);
		attroff(wb_attr(WB_C_DIM));
	}
}

void
wb_teach_draw(wb_app *a, int y0, int y1)
{
	const struct lesson *l = &lessons[a->teach_page % N_LESSONS];
	const wb_row *r = wb_browser_current(a);
	char why[128], head[256];
	long p;

	attron(wb_attr(WB_C_HEADER) & ~A_UNDERLINE);
	if (ix.open) {
		wb_text(y0, 0, COLS, 1, " Lessons: j/k choose, Enter opens, "
		    "i comes back here");
		attroff(wb_attr(WB_C_HEADER));
		draw_index(a, y0 + 1, y1);
		return;
	}
	p = l->pick(a, why, sizeof(why));
	snprintf(head, sizeof(head), " Lesson %d/%d: %s",
	    a->teach_page % N_LESSONS + 1, N_LESSONS, l->title);
	/* its layer, when the line has room for it */
	if (p >= 0 && strlen(head) + strlen(a->rows[p].shortname) + 8 <
	    (size_t)COLS)
		snprintf(head + strlen(head), sizeof(head) - strlen(head),
		    "   (g: %s)", a->rows[p].shortname);
	wb_text(y0, 0, COLS, 1, head);
	attroff(wb_attr(WB_C_HEADER));
	if (l->uses_row && (r == NULL || !load(a, r))) {
		wb_text(y0 + 2, 1, COLS - 2, 0, "no layer: pick one in the "
		    "browser");
		return;
	}
	l->draw(a, r, y0 + 1, y1);
}

/* n p: the lesson's next and previous step. */
static void
press_step(wb_app *a, int key)
{
	if (ix.open)
		return;
	if (key == 'p' || key == KEY_LEFT || key == 'h') {
		if (a->teach_step > 0)
			a->teach_step--;
	} else if (a->teach_step < lessons[a->teach_page % N_LESSONS].last)
		a->teach_step++;
}

/* ] [: the next and previous lesson. */
static void
press_lesson(wb_app *a, int key)
{
	a->teach_page = (a->teach_page % N_LESSONS + (key == ']' ? 1 :
	    N_LESSONS - 1)) % N_LESSONS;
	a->teach_step = 0;
	ix.open = 0;
}

/* i: the index, and back to the lesson. */
static void
press_index(wb_app *a, int key)
{
	(void)key;
	ix.open = !ix.open;
	ix.sel = a->teach_page % N_LESSONS;
}

/* j k: another row of the weight; in the index, another lesson. */
static void
press_row(wb_app *a, int key)
{
	int down = key == 'j' || key == KEY_DOWN;

	if (ix.open)
		ix.sel = (ix.sel + (down ? 1 : N_LESSONS - 1)) % N_LESSONS;
	else if (down)
		a->teach_row++;
	else if (a->teach_row > 0)
		a->teach_row--;
}

/* g: the browser's cursor to the lesson's layer. */
static void
press_goto(wb_app *a, int key)
{
	char why[128];
	long p = lessons[ix.open ? ix.sel : a->teach_page % N_LESSONS].pick(a,
	    why, sizeof(why));
	const wb_row *r;
	wb_screen scr;

	(void)key;
	if (p < 0) {
		wb_message(a, 0, "this lesson: %s", why);
		return;
	}
	/* the browser's own way there: it opens a folded block or expert
	   and clears a filter that hides the layer; the lesson stays open */
	scr = a->screen;
	wb_browser_show_row(a, (size_t)p);
	a->screen = scr;
	r = wb_browser_current(a);
	if (r == NULL || r != &a->rows[p]) {
		wb_message(a, 1, "%s is not in the browser's view",
		    a->rows[p].shortname);
		return;
	}
	a->teach_row = 0;
	a->teach_step = 0;
	wb_message(a, 0, "%s: %s", a->rows[p].shortname, why);
}

/*
 * Enter: in the index, opens the lesson; in the domain lesson, asks for
 * its corpora.
 */
static void
press_enter(wb_app *a, int key)
{
	(void)key;
	if (ix.open) {
		a->teach_page = ix.sel;
		a->teach_step = 0;
		ix.open = 0;
		return;
	}
	if (wb_runs_busy(a))
		return;
	if (a->teach_page % N_LESSONS == L_TRADE) {
		const wb_row *r = wb_browser_current(a);

		if (r != NULL)
			wbt_tr_run(a, r);
		return;
	}
	if (a->teach_page % N_LESSONS != L_DOMAIN)
		return;
	wb_prompt(a, WB_PROMPT_DOMAIN, wbt_domain_dir()[0] != '\0' ?
	    wbt_domain_dir() :
	    getenv("TQ_SHARED_DATA") != NULL ? getenv("TQ_SHARED_DATA") :
	    "../shared/data");
}

static const wb_key keys[] = {
	{ { WB_KEY_ESC }, wb_key_back, "back to the layer browser", "back",
	    WB_ALWAYS },
	{ { 'n', ' ', KEY_RIGHT, 'l' }, press_step, "next step", "step",
	    WB_ALWAYS },
	{ { 'p', KEY_LEFT, 'h' }, press_step, "previous step", "step",
	    WB_ALWAYS },
	{ { ']' }, press_lesson, "next lesson", "lesson", WB_ALWAYS },
	{ { '[' }, press_lesson, "previous lesson", "lesson", WB_ALWAYS },
	{ { 'i' }, press_index, "the lesson index: each lesson, what it "
	    "needs and the layer that shows it best; again: back", "index",
	    WB_ALWAYS },
	{ { 'g' }, press_goto, "go to the lesson's layer (the browser's "
	    "cursor moves there)", NULL, WB_ALWAYS },
	{ { 'j', KEY_DOWN }, press_row, "next row of the weight (the index: "
	    "next lesson)", NULL, WB_ALWAYS },
	{ { 'k', KEY_UP }, press_row, "previous row of the weight (the "
	    "index: previous lesson)", NULL, WB_ALWAYS },
	{ { '\r', '\n', KEY_ENTER }, press_enter, "open the lesson (the "
	    "index); run the lesson's jobs (size: the layer six ways; domain: "
	    "on the corpora in DIR)",
	    "open", WB_ALWAYS },
};

const wb_keymap wb_teach_keymap = {
	"Teaching mode (5)", keys, WB_NKEYS(keys), NULL
};

void
wb_teach_free(void)
{
	teach_w.w = NULL;
	wbt_calib_free();
	wbt_weights_free();
	wbt_jobs_free();	/* after wb_runs_free, which ends the job */
}
