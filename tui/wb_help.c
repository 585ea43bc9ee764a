/*
 * wb_help.c: the `?` overlay listing every key of the workbench.
 */
#include "config.h"

#include <string.h>

#include <curses.h>

#include "wb.h"

/* key, what; a NULL key starts a section. */
static const char *const keys[][2] = {
	{ NULL, "Everywhere" },
	{ "?", "this help (Esc, q or ? closes it; j/k scroll)" },
	{ "1 2 3 4 5 6", "screens: layers, detail, runs/log, validate, teach, "
	    "mix" },
	{ "Tab S-Tab", "next / previous screen" },
	{ "Esc", "back to the layer browser; clear the filter there" },
	{ "q", "quit (asks while a run goes on)" },
	{ "Ctrl-C", "cancel the run, after asking; quit, after asking" },
	{ "X", "cancel the run without asking" },
	{ "c", "calibrate: FILE [SAMPLES [SEQLEN]]" },
	{ "r", "quantize with the plan (per-layer errors fill the table)" },
	{ "v", "validate the variants against fp on FILE [CTX]: ppl, KLD, "
	    "top-token agreement" },
	{ "E", "export dialog, the last variant (the fp model if none): FORMAT "
	    "TYPE PATH [force], e.g. gguf q4_k_m m.gguf; TYPE - keeps the "
	    "state's grid; force replaces PATH" },
	{ "S / L", "save / load the plan (the engine's JSON plan file)" },
	{ "u / Ctrl-R", "undo / redo a plan change" },
	{ "t", "teaching mode" },
	{ "Ctrl-L", "redraw the screen" },
	{ "mouse", "click a row to select it, a tab to switch screen" },
	{ NULL, "Layer browser" },
	{ "j k / arrows", "move; PgUp PgDn, Ctrl-F Ctrl-B: page" },
	{ "g G / Home End", "first / last layer" },
	{ "Enter l", "layer detail" },
	{ "/", "filter by a PCRE2 pattern on layer names (Esc clears)" },
	{ "o / O", "sort by the next column / reverse the order" },
	{ "space", "mark or unmark the layer" },
	{ "a / x", "mark every layer shown / clear the marks" },
	{ "m", "method: float rtn gptq awq smoothquant (cycles)" },
	{ "b", "bits: 2 3 4 5 6 8 (cycles)" },
	{ "z", "group size: channel 32 64 128 256 tensor (cycles)" },
	{ "y", "symmetric grid on/off" },
	{ "=", "set METHOD SCHEME, e.g. gptq int4-g128, rtn q4_k, float" },
	{ "p", "replace the plan by a preset (w4-gptq, q4_k_m, ...)" },
	{ NULL, "Edits go to the marked layers, else the current one; with "
	    "every shown layer marked the rule's pattern is the filter" },
	{ NULL, "Layer detail" },
	{ "j k", "previous / next layer" },
	{ "n p", "next / previous group for the grid" },
	{ "] [", "next / previous row for the grid" },
	{ "m b z y", "edit the layer as in the browser" },
	{ "h Esc", "back" },
	{ NULL, "Teaching mode" },
	{ "n / p", "next / previous step" },
	{ "] [", "next / previous lesson: one group; tensor, channel, "
	    "group; GPTQ vs RTN and AWQ's scales (need a calibration); "
	    "prose vs code calibration" },
	{ "j k", "another row of the weight" },
	{ "Enter", "domain lesson: run its jobs on the corpora in DIR" },
	{ NULL, "Mixed precision (6)" },
	{ "s", "sensitivity: measure on the calibration with the default or "
	    "gguf menu (or METHOD:SCHEME,...), or load a saved FILE" },
	{ "w", "save the sensitivity to a file" },
	{ "h l / arrows", "previous / next point of the frontier (j k: "
	    "bigger steps; g G: ends)" },
	{ "Enter", "load the point's plan into the browser (u undoes)" },
	{ "m", "heat map: probe KLD, or the current plan's predicted KLD" },
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

void
wb_help_draw(wb_app *a)
{
	int h = LINES - 4, w = COLS - 6, y0 = 2, x0 = 3, i, y;

	if (h < 5 || w < 30)
		return;
	if (a->help_top > (int)N_KEYS - (h - 2))
		a->help_top = (int)N_KEYS - (h - 2) > 0 ? (int)N_KEYS -
		    (h - 2) : 0;
	for (y = 0; y < h; y++) {
		move(y0 + y, x0);
		for (i = 0; i < w; i++)
			addch(' ');
	}
	attron(wb_attr(WB_C_TITLE));
	wb_textf(y0, x0, w, " Keys (%s to scroll, Esc to close)",
	    "j/k");
	attroff(wb_attr(WB_C_TITLE));
	for (y = 1, i = a->help_top; y < h - 1 && i < (int)N_KEYS; y++, i++) {
		if (keys[i][0] == NULL) {
			attron(wb_attr(WB_C_HEADER));
			wb_text(y0 + y, x0 + 1, w - 2, 0, keys[i][1]);
			attroff(wb_attr(WB_C_HEADER));
			continue;
		}
		attron(wb_attr(WB_C_KEY));
		wb_textf(y0 + y, x0 + 2, 16, "%-16s", keys[i][0]);
		attroff(wb_attr(WB_C_KEY));
		wb_text(y0 + y, x0 + 19, w - 20, 0, keys[i][1]);
	}
	attron(wb_attr(WB_C_DIM));
	wb_textf(y0 + h - 1, x0, w, " %d-%d of %d", a->help_top + 1,
	    i, (int)N_KEYS);
	attroff(wb_attr(WB_C_DIM));
}

int
wb_help_key(wb_app *a, int key)
{
	switch (key) {
	case 'j': case KEY_DOWN: case ' ': case KEY_NPAGE:
		a->help_top += key == ' ' || key == KEY_NPAGE ? 10 : 1;
		break;
	case 'k': case KEY_UP: case KEY_PPAGE:
		a->help_top -= key == KEY_PPAGE ? 10 : 1;
		if (a->help_top < 0)
			a->help_top = 0;
		break;
	default:
		a->help = 0;
		break;
	}
	return 1;
}
