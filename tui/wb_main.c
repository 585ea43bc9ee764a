/*
 * wb_main.c: the workbench's terminal setup and restore, its event loop and
 * the keys every screen shares (wb_global_keymap).
 *
 * The loop sleeps in poll(2) on the terminal, a self-pipe the signal
 * handlers write to (SIGWINCH, SIGTERM, SIGHUP, SIGINT, SIGQUIT) and the
 * descriptors of the running work; it wakes four times a second while work
 * runs so elapsed time and ETA move.  Keys are read with getch in nodelay
 * mode until none is left, then the screen is redrawn once.
 *
 * The terminal is restored on every way out: endwin on a normal quit and on
 * the terminating signals (through the loop), and from the handler itself
 * on fatal signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) with the
 * termios saved at start and the terminal's own rmcup/cnorm strings, which
 * only needs async-signal-safe calls.  stderr is parked in a temporary file
 * while curses owns the screen, so nothing scribbles on it, and replayed
 * after.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <curses.h>
#include <term.h>

#include "cli.h"
#include "wb.h"

/* ---- Terminal restore ------------------------------------------------- */

static int sig_pipe[2] = { -1, -1 };
static struct termios saved_tio;
static int have_tio;
static char restore_seq[256];	/* rmcup + cnorm + sgr0 */
static size_t restore_len;
static int saved_stderr = -1;
static FILE *stderr_park;
static double t_start;

static void
on_signal(int sig)
{
	int e = errno;
	unsigned char c = (unsigned char)sig;
	ssize_t n = write(sig_pipe[1], &c, 1);

	(void)n;
	errno = e;
}

static void
on_fatal(int sig)
{
	ssize_t n;

	if (restore_len > 0)
		n = write(STDOUT_FILENO, restore_seq, restore_len);
	if (have_tio)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	if (saved_stderr >= 0)
		dup2(saved_stderr, STDERR_FILENO);
	n = write(STDERR_FILENO, "turboquant: fatal signal, terminal "
	    "restored\n", 44);
	(void)n;
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
add_restore(const char *cap)
{
	char *s = tigetstr((char *)cap);
	size_t n;

	if (s == NULL || s == (char *)-1)
		return;
	n = strlen(s);
	if (restore_len + n < sizeof(restore_seq)) {
		memcpy(restore_seq + restore_len, s, n);
		restore_len += n;
	}
}

static void
install_signals(void)
{
	static const int soft[] = { SIGWINCH, SIGTERM, SIGHUP, SIGINT,
		SIGQUIT };
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL,
		SIGABRT };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < sizeof(soft) / sizeof(soft[0]); i++)
		sigaction(soft[i], &sa, NULL);
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_RESETHAND;
	for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
}

static void
park_stderr(void)
{
	stderr_park = tmpfile();
	if (stderr_park == NULL)
		return;
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	if (saved_stderr < 0 || dup2(fileno(stderr_park), STDERR_FILENO) < 0) {
		fclose(stderr_park);
		stderr_park = NULL;
	}
}

static void
unpark_stderr(void)
{
	char buf[4096];
	size_t n;

	if (stderr_park == NULL)
		return;
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
	rewind(stderr_park);
	while ((n = fread(buf, 1, sizeof(buf), stderr_park)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(stderr_park);
	stderr_park = NULL;
}

/*
 * Whether curses can drive the terminal: a terminfo entry that moves the
 * cursor and clears the screen.  Else *why says what is missing (TERM=dumb,
 * an unknown TERM), and the workbench stops before drawing garbage.
 */
static int
term_usable(char *why, size_t len)
{
	const char *t = getenv("TERM");
	char *cup, *clear;
	int err = 0;

	if (t == NULL || t[0] == '\0') {
		snprintf(why, len, "the terminal (TERM is not set)");
		return 0;
	}
	if (setupterm(NULL, STDOUT_FILENO, &err) != OK) {
		snprintf(why, len, "TERM=%.60s (%s)", t, err == 1 ? "a hardcopy "
		    "terminal" : err == 0 ? "not in terminfo" : "no terminfo "
		    "database");
		return 0;
	}
	cup = tigetstr((char *)"cup");
	clear = tigetstr((char *)"clear");
	del_curterm(cur_term);
	if (cup == NULL || cup == (char *)-1 || clear == NULL ||
	    clear == (char *)-1) {
		snprintf(why, len, "TERM=%.60s (no cursor addressing)", t);
		return 0;
	}
	return 1;
}

static void
term_start(void)
{
	if (tcgetattr(STDIN_FILENO, &saved_tio) == 0)
		have_tio = 1;
	initscr();
	raw();			/* Ctrl-C is a key: it asks before cancelling */
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED
#ifdef BUTTON5_PRESSED
	    | BUTTON5_PRESSED
#endif
	    , NULL);
	wb_colors_init();
	add_restore("sgr0");
	add_restore("cnorm");
	add_restore("rmcup");
	install_signals();
}

static void
term_end(void)
{
	endwin();
	if (have_tio)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

/* ---- Log and messages ------------------------------------------------- */

void
wb_log(wb_app *a, const char *fmt, ...)
{
	char *line;
	va_list ap;
	double t = wb_now() - t_start;
	int n;

	if (a->log_n == WB_LOG_LINES) {
		a->log_head = (a->log_head + 1) % WB_LOG_LINES;
		a->log_n--;
	}
	line = a->log[(a->log_head + a->log_n) % WB_LOG_LINES];
	n = snprintf(line, sizeof(a->log[0]), "%3d:%02d ", (int)t / 60,
	    (int)t % 60);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(a->log[0]) - (size_t)n, fmt, ap);
	va_end(ap);
	a->log_n++;
	a->dirty = 1;
}

void
wb_message(wb_app *a, int bad, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->message, sizeof(a->message), fmt, ap);
	va_end(ap);
	a->message_bad = bad;
	a->dirty = 1;
}

/* ---- Drawing ---------------------------------------------------------- */

static void
draw_browser(wb_app *a, int y0, int y1)
{
	wb_browser_draw(a, y0, y1 - 2);
	wb_browser_view_line(a, y1 - 2);
	wb_browser_summary(a, y1 - 1);
}

/* The screens in wb_screen order: the tab's name, the body's drawing. */
static const struct {
	const char *name;
	void (*draw)(wb_app *a, int y0, int y1);
} screens[WB_SCR_COUNT] = {
	{ "layers", draw_browser }, { "detail", wb_detail_draw },
	{ "runs", wb_runs_draw }, { "validate", wb_valid_draw },
	{ "teach", wb_teach_draw }, { "mix", wb_mix_draw }
};

/*
 * The title line: the model and the plan, and on the right the screen
 * tabs, or only the current screen's when they do not fit (so the screen
 * is named at every width; "TurboQuant | " goes first when space is short).
 */
static void
draw_title(wb_app *a)
{
	const tq_model_config *c = tq_model_get_config(a->model);
	char rest[768], cur[32];
	int i, x, tabs = 0, cw;
	const char *path = a->model_path, *p;

	/* the last two components of a long path */
	if (strlen(path) > 24 && (p = strrchr(path, '/')) != NULL) {
		while (p > path && p[-1] == '/')
			p--;
		while (p > path && p[-1] != '/')
			p--;
		path = p;
	}
	snprintf(rest, sizeof(rest), "%s (%s, %lld blocks) | plan: %s%s",
	    path, tq_arch_name(c->arch), (long long)c->n_layers,
	    a->plan.origin, wb_plan_edited(&a->plan) ? " *" : "");
	for (i = 0; i < WB_SCR_COUNT; i++)
		tabs += (int)strlen(screens[i].name) + 4;
	snprintf(cur, sizeof(cur), " %d %s ", (int)a->screen + 1,
	    screens[a->screen].name);
	cw = (int)strlen(cur);
	attron(wb_attr(WB_C_TITLE));
	if (COLS - tabs >= COLS / 2)
		wb_textf(0, 0, COLS, " TurboQuant | %s", rest);
	else if ((int)strlen(rest) + 14 + cw <= COLS)
		wb_textf(0, 0, COLS - cw, " TurboQuant | %s", rest);
	else
		wb_textf(0, 0, COLS - cw, " %s", rest);
	attroff(wb_attr(WB_C_TITLE));
	if (COLS - tabs < COLS / 2) {
		attron(wb_attr(WB_C_CURSOR));
		mvaddstr(0, COLS - cw, cur);
		attroff(wb_attr(WB_C_CURSOR));
		return;
	}
	/* screen tabs, right-aligned */
	x = COLS - tabs;
	for (i = 0; i < WB_SCR_COUNT; i++) {
		attron(i == (int)a->screen ? wb_attr(WB_C_CURSOR) :
		    wb_attr(WB_C_TITLE));
		mvprintw(0, x, " %d %s ", i + 1, screens[i].name);
		attroff(wb_attr(WB_C_CURSOR) | wb_attr(WB_C_TITLE));
		x += (int)strlen(screens[i].name) + 4;
	}
}

static int
submit_set(wb_app *a, const char *v)
{
	return wb_plan_edit(a, "set", v);
}

static int
submit_export(wb_app *a, const char *v)
{
	snprintf(a->export_spec, sizeof(a->export_spec), "%.500s", v);
	return wb_runs_start_export(a, v);
}

/* Enter on the filter: kept, or (a bad pattern) back to what it was. */
static int
submit_filter(wb_app *a, const char *v)
{
	if (wb_browser_set_filter(a, v))
		return 1;
	wb_browser_preview_filter(a, a->filter_was);
	return 0;
}

/*
 * The message line's prompts: the label, and what Enter does with the
 * text; a question's (y/n) hints say what each answer does.
 */
static const struct {
	const char *label;
	int (*submit)(wb_app *a, const char *text);
	const char *yes, *no;
} prompts[] = {
	[WB_PROMPT_NONE] = { "", NULL, NULL, NULL },
	[WB_PROMPT_FILTER] = { "filter (PCRE2): ", submit_filter, NULL,
	    NULL },
	[WB_PROMPT_SETTING] = { "set (METHOD SCHEME): ", submit_set, NULL,
	    NULL },
	[WB_PROMPT_SAVE] = { "save plan to: ", wb_plan_save, NULL, NULL },
	[WB_PROMPT_LOAD] = { "load plan from: ", wb_plan_load, NULL, NULL },
	[WB_PROMPT_PRESET] = { "preset: ", wb_plan_preset, NULL, NULL },
	[WB_PROMPT_CALIB] = { "calibrate on (FILE [SAMPLES [SEQLEN]]): ",
	    wb_runs_start_calib, NULL, NULL },
	[WB_PROMPT_VALID] = { "validate on (FILE [CTX [TOKENS]]): ",
	    wb_runs_start_valid, NULL, NULL },
	[WB_PROMPT_EXPORT] = { "export ([#N|fp] FORMAT TYPE PATH [force]): ",
	    submit_export, NULL, NULL },
	[WB_PROMPT_CONFIRM_CANCEL] = { "cancel the run? (y/n) ", NULL,
	    "cancel the run", "keep it running" },
	[WB_PROMPT_CONFIRM_QUIT] = { "quit the workbench? (y/n) ", NULL,
	    "quit", "stay" },
	[WB_PROMPT_SENS] = { "sensitivity (default | gguf | MENU | FILE): ",
	    wb_mix_start, NULL, NULL },
	[WB_PROMPT_SENS_SAVE] = { "save sensitivity to: ", wb_mix_save, NULL,
	    NULL },
	[WB_PROMPT_DOMAIN] = { "corpora directory: ", wb_teach_domain_start,
	    NULL, NULL },
};

#define N_PROMPTS (sizeof(prompts) / sizeof(prompts[0]))

static const char *
prompt_label(wb_prompt_kind k)
{
	return (size_t)k < N_PROMPTS && prompts[k].label != NULL ?
	    prompts[k].label : "";
}

/* The prompt is a y/n question. */
static int
question(const wb_app *a)
{
	return (size_t)a->prompt < N_PROMPTS && prompts[a->prompt].yes !=
	    NULL;
}

static void
draw_message(wb_app *a, int y)
{
	move(y, 0);
	clrtoeol();
	if (a->prompt != WB_PROMPT_NONE) {
		const char *l = prompt_label(a->prompt);
		int x;

		attron(wb_attr(WB_C_HEADER) & ~A_UNDERLINE);
		mvaddstr(y, 0, l);
		attroff(wb_attr(WB_C_HEADER));
		wb_text(y, (int)strlen(l), COLS - (int)strlen(l) - 1, 0,
		    a->prompt_buf);
		if (question(a))
			return;	/* the text says what a yes loses */
		attron(A_REVERSE);
		addch(' ');
		attroff(A_REVERSE);
		/* the filter as it is typed: how many layers, or why not */
		x = getcurx(stdscr) + 2;
		if (a->prompt == WB_PROMPT_FILTER && x < COLS) {
			attron(wb_attr(WB_C_DIM));
			wb_text(y, x, COLS - x, 0, wb_browser_filter_status());
			attroff(wb_attr(WB_C_DIM));
		}
		return;
	}
	if (a->message[0] != '\0') {
		attron(a->message_bad ? wb_attr(WB_C_BAD) : (int)A_NORMAL);
		wb_text(y, 1, COLS - 1, 0, a->message);
		attroff(wb_attr(WB_C_BAD));
	}
}

/*
 * The hint bar on the last line, from the key tables: the overlay's keys
 * while it is open, a prompt's or a question's (with what each answer
 * does) while one is open, else the screen's.
 */
static void
draw_hints(wb_app *a)
{
	wb_hint h[32];
	size_t i, n;
	int x = 0, y = LINES - 1, w;

	if (a->prompt != WB_PROMPT_NONE && question(a)) {
		n = wb_keys_map_hints(&wb_question_keymap, h, 32);
		for (i = 0; i < n; i++)
			h[i].what = strcmp(h[i].what, "yes") == 0 ?
			    prompts[a->prompt].yes : prompts[a->prompt].no;
	} else if (a->prompt != WB_PROMPT_NONE) {
		n = wb_keys_map_hints(&wb_prompt_keymap, h, 32);
	} else if (a->help) {
		n = wb_keys_map_hints(&wb_help_keymap, h, 32);
	} else {
		n = wb_keys_hints(a->screen, wb_runs_busy(a), h, 32);
	}
	move(y, 0);
	clrtoeol();
	for (i = 0; i < n; i++) {
		w = (int)(strlen(h[i].key) + strlen(h[i].what) + 2);
		if (x + w > COLS)
			break;
		attron(wb_attr(WB_C_KEY));
		mvaddstr(y, x, h[i].key);
		attroff(wb_attr(WB_C_KEY));
		addch(' ');
		addstr(h[i].what);
		x += w;
	}
}

static void
draw(wb_app *a)
{
	int body_end = LINES - 3;

	erase();
	if (LINES < 10 || COLS < 40) {
		mvaddstr(0, 0, "terminal too small (40x10 at least)");
		refresh();
		return;
	}
	draw_title(a);
	screens[a->screen].draw(a, 1, body_end);
	if (a->prompt == WB_PROMPT_EXPORT)
		wb_export_draw(a, 1, body_end);
	draw_message(a, body_end);
	if (a->screen != WB_SCR_RUNS && a->screen != WB_SCR_VALID)
		wb_runs_progress(a, body_end + 1);
	else {
		move(body_end + 1, 0);
		clrtoeol();
		if (a->log_n > 0 && a->screen == WB_SCR_VALID)
			wb_text(body_end + 1, 1, COLS - 1, 0,
			    a->log[(a->log_head + a->log_n - 1) %
			    WB_LOG_LINES]);
	}
	if (a->help)
		wb_help_draw(a);
	draw_hints(a);
	refresh();
}

/* ---- Keys ------------------------------------------------------------- */

void
wb_prompt(wb_app *a, wb_prompt_kind k, const char *init)
{
	a->prompt = k;
	snprintf(a->prompt_buf, sizeof(a->prompt_buf), "%s", init);
	a->prompt_len = strlen(a->prompt_buf);
	a->dirty = 1;
}

/* The text changed: the filter follows it as it is typed. */
static void
prompt_changed(wb_app *a)
{
	if (a->prompt == WB_PROMPT_FILTER)
		wb_browser_preview_filter(a, a->prompt_buf);
}

static void
prompt_apply(wb_app *a, int key)
{
	wb_prompt_kind k = a->prompt;

	(void)key;
	a->prompt = WB_PROMPT_NONE;
	a->message[0] = '\0';
	if ((size_t)k < N_PROMPTS && prompts[k].submit != NULL)
		prompts[k].submit(a, a->prompt_buf);
}

static void
prompt_cancel(wb_app *a, int key)
{
	(void)key;
	if (a->prompt == WB_PROMPT_FILTER)
		wb_browser_preview_filter(a, a->filter_was);
	a->prompt = WB_PROMPT_NONE;
}

static void
prompt_erase(wb_app *a, int key)
{
	(void)key;
	if (a->prompt_len > 0)
		a->prompt_buf[--a->prompt_len] = '\0';
	prompt_changed(a);
}

/* Ctrl-U the whole line, Ctrl-W the last word. */
static void
prompt_clear(wb_app *a, int key)
{
	if (key == WB_CTRL('w')) {
		while (a->prompt_len > 0 &&
		    a->prompt_buf[a->prompt_len - 1] == ' ')
			a->prompt_len--;
		while (a->prompt_len > 0 &&
		    a->prompt_buf[a->prompt_len - 1] != ' ')
			a->prompt_len--;
	} else {
		a->prompt_len = 0;
	}
	a->prompt_buf[a->prompt_len] = '\0';
	prompt_changed(a);
}

static const wb_key prompt_keys[] = {
	{ { '\r', '\n', KEY_ENTER }, prompt_apply, "apply what is typed",
	    "apply", WB_ALWAYS },
	{ { WB_KEY_ESC, WB_CTRL('c'), WB_CTRL('g') }, prompt_cancel,
	    "cancel (the filter goes back to what it was)", "cancel",
	    WB_ALWAYS },
	{ { KEY_BACKSPACE, 127, WB_CTRL('h') }, prompt_erase, "delete the "
	    "last character", NULL, WB_ALWAYS },
	{ { WB_CTRL('u') }, prompt_clear, "clear the line", "clear",
	    WB_ALWAYS },
	{ { WB_CTRL('w') }, prompt_clear, "delete the last word", NULL,
	    WB_ALWAYS },
};

const wb_keymap wb_prompt_keymap = {
	"A prompt on the message line (/, =, p, c, v, E, S, L, ...)",
	prompt_keys, WB_NKEYS(prompt_keys), "Other keys type; the filter "
	"applies as it is typed, and / starts it empty"
};

static void
answer(wb_app *a, int key)
{
	wb_prompt_kind k = a->prompt;

	a->prompt = WB_PROMPT_NONE;
	if (key != 'y' && key != 'Y')
		return;
	if (k == WB_PROMPT_CONFIRM_CANCEL)
		wb_runs_cancel(a);
	else if (k == WB_PROMPT_CONFIRM_QUIT)
		a->quit = 1;
}

static const wb_key question_keys[] = {
	{ { 'y', 'Y' }, answer, "yes: do what the question asks", "yes",
	    WB_ALWAYS },
	{ { 'n', 'N', WB_KEY_ESC }, answer, "no (so does any other key)", "no",
	    WB_ALWAYS },
};

const wb_keymap wb_question_keymap = {
	"A question (y/n): cancel the run? quit?", question_keys,
	WB_NKEYS(question_keys), "The hint bar says what each answer does"
};

/* A prompt's keys: line editing, or the answer to a y/n question. */
static void
prompt_key(wb_app *a, int key)
{
	if (question(a)) {
		if (!wb_keys_run(a, &wb_question_keymap, key))
			answer(a, key);
		return;
	}
	if (wb_keys_run(a, &wb_prompt_keymap, key))
		return;
	if (key >= 32 && key < 256 && a->prompt_len + 1 <
	    sizeof(a->prompt_buf)) {
		a->prompt_buf[a->prompt_len++] = (char)key;
		a->prompt_buf[a->prompt_len] = '\0';
		prompt_changed(a);
	}
}

static void
press_help(wb_app *a, int key)
{
	(void)key;
	wb_help_open(a);
}

/*
 * What quitting would lose, for the question ("not saved: plan edits, 2
 * variants, the sensitivity"), or "" when nothing.
 */
static void
unsaved(const wb_app *a, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (a->plan.dirty)
		n += (size_t)snprintf(buf + n, len - n, ", plan edits");
	if (a->n_variants > 0 && n < len)
		n += (size_t)snprintf(buf + n, len - n, ", %d variant%s",
		    a->n_variants, a->n_variants > 1 ? "s" : "");
	if (wb_mix_unsaved() && n < len)
		snprintf(buf + n, len - n, ", the sensitivity");
	if (buf[0] != '\0') {
		char what[256];

		snprintf(what, sizeof(what), "%s", buf + 2);
		snprintf(buf, len, "- not saved: %s", what);
	}
}

/* q: asks first while a run goes on or when quitting loses work. */
static void
press_quit(wb_app *a, int key)
{
	char lose[300];

	(void)key;
	unsaved(a, lose, sizeof(lose));
	if (wb_runs_busy(a) || lose[0] != '\0')
		wb_prompt(a, WB_PROMPT_CONFIRM_QUIT, lose);
	else
		a->quit = 1;
}

/* Ctrl-C: asks before cancelling the run, or before quitting. */
static void
press_interrupt(wb_app *a, int key)
{
	char lose[300];

	(void)key;
	unsaved(a, lose, sizeof(lose));
	if (wb_runs_busy(a))
		wb_prompt(a, WB_PROMPT_CONFIRM_CANCEL, "");
	else
		wb_prompt(a, WB_PROMPT_CONFIRM_QUIT, lose);
}

static void
press_cancel(wb_app *a, int key)
{
	(void)key;
	if (wb_runs_busy(a))
		wb_runs_cancel(a);
}

/* The wheel in a mouse event: -1 up, 1 down, 0 none. */
static int
wheel_of(const MEVENT *me)
{
	if (me->bstate & BUTTON4_PRESSED)
		return -1;
#ifdef BUTTON5_PRESSED
	if (me->bstate & BUTTON5_PRESSED)
		return 1;
#endif
	return 0;
}

/*
 * A click on a tab switches screen; on the browser a click selects a row
 * or sorts by a header, the wheel scrolls the table (the log on Runs).
 */
static void
press_mouse(wb_app *a, int key)
{
	MEVENT me;
	int wheel, i, x, tabs = 0;

	(void)key;
	if (getmouse(&me) != OK)
		return;
	wheel = wheel_of(&me);
	for (i = 0; i < WB_SCR_COUNT; i++)
		tabs += (int)strlen(screens[i].name) + 4;
	if (me.y == 0 && wheel == 0) {
		/* the screen tabs, when they are shown */
		if (COLS - tabs < COLS / 2)
			return;
		for (i = 0, x = COLS - tabs; i < WB_SCR_COUNT; i++) {
			int w = (int)strlen(screens[i].name) + 4;

			if (me.x >= x && me.x < x + w)
				a->screen = (wb_screen)i;
			x += w;
		}
	} else if (a->screen == WB_SCR_BROWSER) {
		wb_browser_mouse(a, me.y, me.x, wheel);
	} else if (a->screen == WB_SCR_RUNS && wheel != 0) {
		wb_keys_run(a, &wb_runs_keymap, wheel < 0 ? KEY_UP : KEY_DOWN);
	}
}

/* The mouse while the overlay is open: the wheel scrolls, a click closes. */
static void
help_mouse(wb_app *a)
{
	MEVENT me;
	int wheel;

	if (getmouse(&me) != OK)
		return;
	if ((wheel = wheel_of(&me)) != 0)
		wb_help_key(a, wheel < 0 ? KEY_UP : KEY_DOWN);
	else if (me.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED))
		a->help = 0;
}

/* 1 to 6, Tab and S-Tab, t. */
static void
press_screen(wb_app *a, int key)
{
	if (key == '\t')
		a->screen = (wb_screen)((a->screen + 1) % WB_SCR_COUNT);
	else if (key == KEY_BTAB)
		a->screen = (wb_screen)((a->screen + WB_SCR_COUNT - 1) %
		    WB_SCR_COUNT);
	else if (key == 't')
		a->screen = WB_SCR_TEACH;
	else
		a->screen = (wb_screen)(key - '1');
}

/* S and L: the plan file, last path first. */
static void
press_plan_file(wb_app *a, int key)
{
	wb_prompt(a, key == 'S' ? WB_PROMPT_SAVE : WB_PROMPT_LOAD,
	    a->plan.path[0] != '\0' ? a->plan.path : "plan.json");
}

static void
press_undo(wb_app *a, int key)
{
	if (key == 'u')
		wb_plan_undo(a);
	else
		wb_plan_redo(a);
}

/* c, v and E: a run's prompt, with what was typed last time. */
static void
press_run_prompt(wb_app *a, int key)
{
	if (key == 'c')
		wb_prompt(a, WB_PROMPT_CALIB, a->calib_path);
	else if (key == 'v')
		wb_prompt(a, WB_PROMPT_VALID, a->valid_path);
	else
		wb_prompt(a, WB_PROMPT_EXPORT, a->export_spec[0] != '\0' ?
		    a->export_spec : "gguf q4_k_m model-q4_k_m.gguf");
}

static void
press_quantize(wb_app *a, int key)
{
	(void)key;
	wb_runs_start_quant(a);
}

static void
press_redraw(wb_app *a, int key)
{
	(void)key;
	(void)a;
	clearok(stdscr, TRUE);
}

static const wb_key global_keys[] = {
	{ { '?' }, press_help, "this help (Esc, q or ? closes it; j/k scroll)",
	    "help", WB_ALWAYS },
	{ { '1', '2', '3', '4', '5', '6' }, press_screen, "screens: layers, "
	    "detail, runs/log, validate, teach, mix", NULL, WB_ALWAYS },
	{ { '\t', KEY_BTAB }, press_screen, "next / previous screen", NULL,
	    WB_ALWAYS },
	{ { 'q' }, press_quit, "quit (asks while a run goes on, or when plan "
	    "edits, variants or a measured sensitivity are not saved)", "quit",
	    WB_ALWAYS },
	{ { WB_CTRL('c') }, press_interrupt, "cancel the run, after asking; "
	    "quit, after asking", "cancel", WB_BUSY },
	{ { 'X' }, press_cancel, "cancel the run without asking", NULL,
	    WB_ALWAYS },
	{ { 'c' }, press_run_prompt, "calibrate: FILE [SAMPLES [SEQLEN]]",
	    "calib", WB_IDLE },
	{ { 'r' }, press_quantize, "quantize with the plan (per-layer errors "
	    "fill the table)", "quant", WB_IDLE },
	{ { 'v' }, press_run_prompt, "validate the variants against fp on FILE "
	    "[CTX [TOKENS]] (the first TOKENS; the fp model alone before any "
	    "variant): ppl, KLD, top-token agreement", NULL, WB_ALWAYS },
	{ { 'E' }, press_run_prompt, "export dialog: [#N|fp] FORMAT TYPE PATH "
	    "[force], e.g. gguf q4_k_m m.gguf (the last variant, or #N, or the "
	    "fp model); TYPE - keeps the state's grid; force replaces PATH",
	    NULL, WB_ALWAYS },
	{ { 'S', 'L' }, press_plan_file, "save / load the plan (the engine's "
	    "JSON plan file)", NULL, WB_ALWAYS },
	{ { 'u', WB_CTRL('r') }, press_undo, "undo / redo a plan change", NULL,
	    WB_ALWAYS },
	{ { 't' }, press_screen, "teaching mode", NULL, WB_ALWAYS },
	{ { WB_CTRL('l') }, press_redraw, "redraw the screen", NULL,
	    WB_ALWAYS },
	{ { KEY_MOUSE }, press_mouse, "click a tab to switch screen, a row to "
	    "select it, a column header to sort by it (again: the other way); "
	    "the wheel scrolls the table, the log and this help", NULL,
	    WB_ALWAYS },
};

const wb_keymap wb_global_keymap = {
	"Everywhere", global_keys, WB_NKEYS(global_keys), NULL
};

static void
handle_key(wb_app *a, int key)
{
	a->dirty = 1;
	if (key == KEY_RESIZE)
		return;
	if (a->prompt != WB_PROMPT_NONE) {
		prompt_key(a, key);
		return;
	}
	if (a->help) {
		if (key == KEY_MOUSE)
			help_mouse(a);
		else
			wb_help_key(a, key);
		return;
	}
	if (key != KEY_MOUSE)
		a->message[0] = '\0';
	wb_keys_dispatch(a, key);
}

/* The terminal's new size, from the kernel. */
static void
resize(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
	    ws.ws_col > 0)
		resizeterm(ws.ws_row, ws.ws_col);
}

static int
drain_signals(wb_app *a)
{
	unsigned char buf[32];
	ssize_t n, i;

	while ((n = read(sig_pipe[0], buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++) {
			if (buf[i] == SIGWINCH) {
				resize();
				a->dirty = 1;
			} else {
				return 1;	/* terminate, restoring */
			}
		}
	return 0;
}

static void
loop(wb_app *a)
{
	struct pollfd p[4];
	int n, i, key, fds[2], nf;

	while (!a->quit) {
		if (a->dirty) {
			draw(a);
			a->dirty = 0;
		}
		p[0].fd = STDIN_FILENO;
		p[1].fd = sig_pipe[0];
		nf = wb_runs_fds(a, fds);
		for (i = 0; i < nf; i++)
			p[2 + i].fd = fds[i];
		n = 2 + nf;
		for (i = 0; i < n; i++) {
			p[i].events = POLLIN;
			p[i].revents = 0;
		}
		if (poll(p, (nfds_t)n, wb_runs_busy(a) ? 250 : -1) < 0 &&
		    errno != EINTR)
			break;
		if (p[1].revents & POLLIN && drain_signals(a))
			break;
		if (p[0].revents & (POLLHUP | POLLERR))
			break;
		while ((key = getch()) != ERR)
			handle_key(a, key);
		if (wb_runs_busy(a)) {
			wb_runs_pump(a);
			a->dirty = 1;
		}
	}
}

int
wb_main(const char *model_path)
{
	wb_app *a;
	tq_error err = { TQ_OK, "" };
	int i, rc = 0;

	setlocale(LC_ALL, "");
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return 1;
	a->model_path = model_path;
	a->fp_ppl = -1.0;
	a->valid_ctx = 0;
	a->log_top = -1;	/* the log follows its end */
	if (tq_model_open(model_path, &a->model, &err) != TQ_OK ||
	    wb_plan_init(&a->plan, "w4-rtn", &err) != TQ_OK ||
	    wb_browser_init(a, &err) != TQ_OK) {
		fprintf(stderr, "turboquant: %s\n", err.msg[0] != '\0' ?
		    err.msg : tq_strerror(err.status));
		rc = 1;
		goto out;
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "turboquant: the workbench needs a terminal "
		    "(see turboquant --help for the commands)\n");
		rc = 1;
		goto out;
	}
	{
		char why[160];

		if (!term_usable(why, sizeof(why))) {
			fprintf(stderr, "turboquant: the workbench cannot "
			    "drive %s\n", why);
			rc = 1;
			goto out;
		}
	}
	if (pipe(sig_pipe) != 0) {
		rc = 1;
		goto out;
	}
	for (i = 0; i < 2; i++) {
		fcntl(sig_pipe[i], F_SETFL, fcntl(sig_pipe[i], F_GETFL) |
		    O_NONBLOCK);
		fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC);
	}
	t_start = wb_now();
	wb_log(a, "opened %s: %zu quantizable layers", model_path, a->n_rows);
	wb_message(a, 0, "? lists every key");
	park_stderr();
	term_start();
	a->dirty = 1;
	loop(a);
	term_end();
	unpark_stderr();
out:
	wb_runs_free(a);
	wb_detail_free();
	wb_teach_free();
	wb_mix_free();
	wb_browser_free(a);
	wb_plan_free(&a->plan);
	tq_model_close(a->model);
	free(a);
	return rc;
}

int
cmd_tui(int argc, char **argv)
{
	const char *model = NULL;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			cli_usage(stdout, "tui");
			return 0;
		} else if (argv[i][0] == '-') {
			return cli_error("tui: unknown option %s", argv[i]);
		} else if (model == NULL) {
			model = argv[i];
		} else {
			return cli_error("tui: unexpected argument \"%s\"",
			    argv[i]);
		}
	}
	return wb_main(cli_model_path(model));
}
