/*
 * wb_help.c: the `?` overlay listing every key of the workbench, walking
 * the key tables (wb_keys.c); and the overlay's own keys.
 */
#include "config.h"

#include <string.h>

#include <curses.h>

#include "wb.h"

void
wb_help_draw(wb_app *a)
{
	int h = LINES - 4, w = COLS - 6, y0 = 2, x0 = 3, i, y, n, kw = 0;
	char keys[64];
	const char *text;

	n = (int)wb_keys_help_count();
	if (h < 5 || w < 30)
		return;
	/* the key column: as wide as the widest keys, up to 20 */
	for (i = 0; i < n; i++)
		if (wb_keys_help_line((size_t)i, keys, sizeof(keys), &text) ==
		    1 && (int)strlen(keys) > kw)
			kw = (int)strlen(keys);
	kw = kw < 20 ? kw : 20;
	if (a->help_top > n - (h - 2))
		a->help_top = n - (h - 2) > 0 ? n - (h - 2) : 0;
	for (y = 0; y < h; y++) {
		move(y0 + y, x0);
		for (i = 0; i < w; i++)
			addch(' ');
	}
	attron(wb_attr(WB_C_TITLE));
	wb_textf(y0, x0, w, " Keys (%s to scroll, Esc to close)",
	    "j/k");
	attroff(wb_attr(WB_C_TITLE));
	for (y = 1, i = a->help_top; y < h - 1 && i < n; y++, i++) {
		if (wb_keys_help_line((size_t)i, keys, sizeof(keys),
		    &text) == 0) {
			attron(wb_attr(WB_C_HEADER));
			wb_text(y0 + y, x0 + 1, w - 2, 0, text);
			attroff(wb_attr(WB_C_HEADER));
			continue;
		}
		attron(wb_attr(WB_C_KEY));
		wb_textf(y0 + y, x0 + 2, kw, "%-*s", kw, keys);
		attroff(wb_attr(WB_C_KEY));
		wb_text(y0 + y, x0 + kw + 3, w - kw - 4, 0, text);
	}
	attron(wb_attr(WB_C_DIM));
	wb_textf(y0 + h - 1, x0, w, " %d-%d of %d", a->help_top + 1,
	    i, n);
	attroff(wb_attr(WB_C_DIM));
}

/* j k, space and the page keys scroll. */
static void
press_scroll(wb_app *a, int key)
{
	a->help_top += key == 'j' || key == KEY_DOWN ? 1 : key == 'k' ||
	    key == KEY_UP ? -1 : key == KEY_PPAGE ? -10 : 10;
	if (a->help_top < 0)
		a->help_top = 0;
}

static void
press_close(wb_app *a, int key)
{
	(void)key;
	a->help = 0;
}

static const wb_key keys[] = {
	{ { 'j', KEY_DOWN }, press_scroll, "scroll down", NULL, WB_ALWAYS },
	{ { 'k', KEY_UP }, press_scroll, "scroll up", NULL, WB_ALWAYS },
	{ { ' ', KEY_NPAGE }, press_scroll, "a page down", NULL, WB_ALWAYS },
	{ { KEY_PPAGE }, press_scroll, "a page up", NULL, WB_ALWAYS },
	{ { WB_KEY_ESC, 'q', '?' }, press_close, "close (so does any other "
	    "key)", NULL, WB_ALWAYS },
};

const wb_keymap wb_help_keymap = {
	"This help (?)", keys, WB_NKEYS(keys), NULL
};

void
wb_help_key(wb_app *a, int key)
{
	if (!wb_keys_run(a, &wb_help_keymap, key))
		press_close(a, key);
}
